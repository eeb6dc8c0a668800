//! Where Discord's CDN serves a user's (or a webhook's) profile picture, for
//! `peek_profile_picture`. The URL is built from the ids and the hash Discord sent, never from
//! anything the model wrote; the download still goes through the media policy.

use twilight_model::util::ImageHash;
use url::Url;

/// Discord's CDN.
pub(crate) const DISCORD_CDN: &str = "https://cdn.discordapp.com";

/// The side asked of the CDN: enough to see, small to fetch.
const SIZE: u32 = 256;

/// The picture of `user` with avatar `hash` on the CDN at `cdn`: a still PNG (an animated
/// avatar's first frame), or Discord's default avatar for someone without one.
pub(crate) fn avatar_url(cdn: &Url, user: u64, hash: Option<&ImageHash>) -> String {
    let base = cdn.as_str().trim_end_matches('/');
    match hash {
        Some(hash) => format!("{base}/avatars/{user}/{hash}.png?size={SIZE}"),
        // Discord's default avatars for accounts on unique usernames: (id >> 22) % 6.
        None => format!("{base}/embed/avatars/{}.png", (user >> 22) % 6),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn avatars_are_still_pngs_on_the_cdn() {
        let cdn = Url::parse(DISCORD_CDN).unwrap();
        let hash = ImageHash::parse(b"a_1269e74af4df7417b13759eae50c83dc").unwrap();
        assert_eq!(
            avatar_url(&cdn, 80351110224678912, Some(&hash)),
            "https://cdn.discordapp.com/avatars/80351110224678912/a_1269e74af4df7417b13759eae50c83dc.png?size=256"
        );
        assert_eq!(
            avatar_url(&cdn, 80351110224678912, None),
            format!(
                "https://cdn.discordapp.com/embed/avatars/{}.png",
                (80351110224678912_u64 >> 22) % 6
            )
        );
        let local = Url::parse("http://127.0.0.1:9/").unwrap();
        assert!(avatar_url(&local, 1, None).starts_with("http://127.0.0.1:9/embed/"));
    }
}
