//! The shape of a Discord bot token, checked before any connection so that a pasted client secret
//! or a truncated token gets a clear warning instead of only a 401. It is a warning, not a
//! refusal: Discord-compatible servers issue tokens of other shapes.

/// Why a token is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub(crate) enum TokenShape {
    /// Not three dot-separated parts.
    #[error("a bot token has three parts separated by dots")]
    Parts,
    /// Characters outside base64url.
    #[error("a bot token contains only letters, digits, '-' and '_' besides the dots")]
    Characters,
    /// The first part is not the base64 of the bot's numeric id.
    #[error("the first part of a bot token is the bot's id in base64")]
    NotAnId,
    /// Parts too short.
    #[error("the token is too short; copy the whole token from the developer portal")]
    TooShort,
}

/// Checks a bot token's shape: `base64(bot id).timestamp.hmac`, base64url alphabet. A `Bot `
/// prefix is tolerated.
pub(crate) fn check(token: &str) -> Result<(), TokenShape> {
    let token = token.trim();
    let token = token.strip_prefix("Bot ").unwrap_or(token);
    let parts: Vec<&str> = token.split('.').collect();
    let [id, time, mac] = parts.as_slice() else { return Err(TokenShape::Parts) };
    let alphabet = |s: &str| s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if !parts.iter().all(|p| alphabet(p)) {
        return Err(TokenShape::Characters);
    }
    if id.len() < 16 || time.len() < 5 || mac.len() < 20 {
        return Err(TokenShape::TooShort);
    }
    let decoded = base64url_decode(id).ok_or(TokenShape::NotAnId)?;
    let digits = std::str::from_utf8(&decoded).map_err(|_| TokenShape::NotAnId)?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(TokenShape::NotAnId);
    }
    Ok(())
}

/// The warning for a token that does not look like Discord's.
pub(crate) fn warning(shape: TokenShape) -> String {
    format!(
        "discord.token does not look like a Discord bot token ({shape}); that is fine for a \
         Discord-compatible server, but Discord itself will refuse it"
    )
}

fn base64url_decode(text: &str) -> Option<Vec<u8>> {
    let value = |b: u8| -> Option<u32> {
        match b {
            b'A'..=b'Z' => Some(u32::from(b - b'A')),
            b'a'..=b'z' => Some(u32::from(b - b'a') + 26),
            b'0'..=b'9' => Some(u32::from(b - b'0') + 52),
            b'-' | b'+' => Some(62),
            b'_' | b'/' => Some(63),
            _ => None,
        }
    };
    let mut out = Vec::new();
    let mut acc = 0_u32;
    let mut bits = 0;
    for b in text.bytes().filter(|b| *b != b'=') {
        acc = (acc << 6) | value(b)?;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push(u8::try_from((acc >> bits) & 0xff).ok()?);
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn check_token(token: &str, expected: Result<(), TokenShape>) {
        assert_eq!(check(token), expected, "token {token:?}");
    }

    #[test]
    fn bot_tokens_are_checked_by_shape() {
        // base64("175928847299117063") = MTc1OTI4ODQ3Mjk5MTE3MDYz
        let good = "MTc1OTI4ODQ3Mjk5MTE3MDYz.GaBcDe.abcdefghijklmnopqrstuvwxyz012345";
        check_token(good, Ok(()));
        check_token(&format!("Bot {good}"), Ok(()));
        check_token("not-a-token", Err(TokenShape::Parts));
        check_token("a.b.c.d", Err(TokenShape::Parts));
        check_token(
            "MTc1OTI4ODQ3Mjk5MTE3MDYz.GaBcDe.abc def ghijklmnopqrstuvwxyz",
            Err(TokenShape::Characters),
        );
        check_token("MTc1.GaBcDe.abcdefghijklmnopqrstuvwxyz012345", Err(TokenShape::TooShort));
        check_token(
            "aGVsbG8gd29ybGQgaGVsbG8.GaBcDe.abcdefghijklmnopqrstuvwxyz012345",
            Err(TokenShape::NotAnId),
        );
    }
}
