use super::*;

#[track_caller]
fn check(input: &str, expected: Result<u64, SnowflakeError>) {
    assert_eq!(input.parse::<Snowflake>().map(Snowflake::get), expected, "input {input:?}");
}

#[test]
fn snowflakes_parse_from_discord_strings() {
    check("175928847299117063", Ok(175_928_847_299_117_063));
    check("1", Ok(1));
    check("0", Err(SnowflakeError::Zero));
    check("", Err(SnowflakeError::NotANumber));
    check("-5", Err(SnowflakeError::NotANumber));
    check("12a", Err(SnowflakeError::NotANumber));
    check(" 12", Err(SnowflakeError::NotANumber));
    check("9223372036854775808", Err(SnowflakeError::OutOfRange));
    check("99999999999999999999999", Err(SnowflakeError::OutOfRange));
}

#[test]
fn snowflakes_round_trip_through_bigint() {
    let id = Snowflake::new(i64::MAX.unsigned_abs()).unwrap();
    assert_eq!(Snowflake::from_db(id.to_db()), Ok(id));
    assert_eq!(Snowflake::from_db(-1), Err(SnowflakeError::OutOfRange));
}
