use secrecy::{ExposeSecret, SecretString};
use tomori_core::id::{ServerId, UserId};

use super::*;

fn ring(versions: &[(u32, &str)], current: Option<u32>) -> Result<KeyRing, KeyRingError> {
    KeyRing::new(versions.iter().map(|(v, s)| (*v, SecretString::from((*s).to_owned()))), current)
}

const A: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
const B: &str = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";

fn ctx(owner: Owner) -> SealContext {
    SealContext { table: "provider_credentials", column: "secret", owner }
}

#[test]
fn sealed_values_open_only_in_their_own_row_and_column() {
    let keys = ring(&[(1, A)], None).unwrap();
    let here = ctx(Owner::Server(ServerId::from_db(1)));
    let sealed = keys.seal("sk-live-123", &here);
    assert_eq!(sealed.key_version, 1);
    assert_eq!(keys.open(&sealed.blob, &here).unwrap().expose_secret(), "sk-live-123");

    let other_tenant = ctx(Owner::Server(ServerId::from_db(2)));
    assert_eq!(keys.open(&sealed.blob, &other_tenant).unwrap_err(), OpenError::Rejected(1));
    let user = ctx(Owner::User(UserId::from_db(1)));
    assert_eq!(keys.open(&sealed.blob, &user).unwrap_err(), OpenError::Rejected(1));
    let other_column = SealContext { column: "api_key", ..here };
    assert_eq!(keys.open(&sealed.blob, &other_column).unwrap_err(), OpenError::Rejected(1));
}

#[test]
fn modified_or_truncated_blobs_are_rejected() {
    let keys = ring(&[(1, A)], None).unwrap();
    let here = ctx(Owner::Instance);
    let sealed = keys.seal("token", &here);
    for idx in 0..sealed.blob.len() {
        let mut blob = sealed.blob.clone();
        blob[idx] ^= 0x01;
        assert!(keys.open(&blob, &here).is_err(), "flipping byte {idx} must not open");
    }
    for len in 0..sealed.blob.len() {
        assert!(
            keys.open(&sealed.blob[..len], &here).is_err(),
            "a {len}-byte prefix must not open"
        );
    }
}

#[test]
fn wrong_secret_and_missing_version_are_told_apart() {
    let sealed = ring(&[(1, A)], None).unwrap().seal("x", &ctx(Owner::Instance));
    let wrong = ring(&[(1, B)], None).unwrap();
    assert_eq!(
        wrong.open(&sealed.blob, &ctx(Owner::Instance)).unwrap_err(),
        OpenError::Rejected(1)
    );
    let lacking = ring(&[(2, B)], None).unwrap();
    assert_eq!(
        lacking.open(&sealed.blob, &ctx(Owner::Instance)).unwrap_err(),
        OpenError::MissingVersion(1)
    );
}

#[test]
fn current_version_is_the_highest_unless_configured() {
    assert_eq!(ring(&[(1, A), (3, B)], None).unwrap().current(), 3);
    assert_eq!(ring(&[(1, A), (3, B)], Some(1)).unwrap().current(), 1);
    assert_eq!(ring(&[(1, A)], Some(2)).unwrap_err(), KeyRingError::MissingCurrent(2));
    assert_eq!(ring(&[], None).unwrap_err(), KeyRingError::Empty);
    assert_eq!(ring(&[(1, "short")], None).unwrap_err(), KeyRingError::TooShort(1));
    assert_eq!(ring(&[(0, A)], None).unwrap_err(), KeyRingError::VersionZero);
}

#[test]
fn each_version_derives_a_different_key() {
    let keys = ring(&[(1, A), (2, A)], Some(1)).unwrap();
    let v1 = keys.seal("same", &ctx(Owner::Instance));
    let only_v2 = ring(&[(2, A)], None).unwrap();
    assert_eq!(blob_version(&v1.blob), Ok(1));
    // Same master secret under another version number must not open: the version is in the HKDF info.
    let mut relabelled = v1.blob.clone();
    relabelled[1..5].copy_from_slice(&2_u32.to_be_bytes());
    assert!(only_v2.open(&relabelled, &ctx(Owner::Instance)).is_err());
}

#[test]
fn debug_output_shows_no_key_material() {
    let keys = ring(&[(1, A)], None).unwrap();
    let shown = format!("{keys:?}");
    assert_eq!(shown, "KeyRing { versions: [1], current: 1 }");
}
