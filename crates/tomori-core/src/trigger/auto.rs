//! The auto-trigger counter: in an auto-trigger channel (`/server channel add auto_trigger`), the
//! bot joins in unaddressed after a random number of people's messages drawn from the server's
//! range (`/server auto-trigger min max`); 0–0 turns it off.
//!
//! The draw is a function of a seed (the engine passes the message id), so a test knows in
//! advance which message will be answered.

/// The most messages a range may ask to wait for.
pub const MAX_AUTO_TRIGGER: u16 = 1_000;

/// How many people's messages pass between two unaddressed answers: a target drawn from
/// `min..=max` for each cycle. `0–0` is off.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct AutoRange {
    min: u16,
    max: u16,
}

/// Why a range is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AutoRangeError {
    /// `min` above `max`.
    #[error("the minimum is above the maximum")]
    Inverted,
    /// One end is 0 and the other is not (only 0–0, off, may use 0).
    #[error("0 turns it off and must be both ends (0–0)")]
    HalfOff,
    /// An end above [`MAX_AUTO_TRIGGER`].
    #[error("at most {MAX_AUTO_TRIGGER} messages")]
    TooLarge,
}

impl AutoRange {
    /// Never joins in.
    pub const OFF: Self = Self { min: 0, max: 0 };

    /// A range of `min..=max` messages; both 0 is off.
    ///
    /// # Errors
    /// An inverted range, a range with one end 0, or an end above [`MAX_AUTO_TRIGGER`].
    pub fn new(min: u16, max: u16) -> Result<Self, AutoRangeError> {
        if min > MAX_AUTO_TRIGGER || max > MAX_AUTO_TRIGGER {
            return Err(AutoRangeError::TooLarge);
        }
        if min > max {
            return Err(AutoRangeError::Inverted);
        }
        if min == 0 && max != 0 {
            return Err(AutoRangeError::HalfOff);
        }
        Ok(Self { min, max })
    }

    /// A range as stored (`smallint` columns); anything the table's CHECK constraint would have
    /// refused is off.
    pub fn from_stored(min: i16, max: i16) -> Self {
        match (u16::try_from(min), u16::try_from(max)) {
            (Ok(min), Ok(max)) => Self::new(min, max).unwrap_or(Self::OFF),
            _ => Self::OFF,
        }
    }

    /// The lower end.
    pub const fn min(self) -> u16 {
        self.min
    }

    /// The upper end.
    pub const fn max(self) -> u16 {
        self.max
    }

    /// Whether the channel never joins in.
    pub const fn is_off(self) -> bool {
        self.max == 0
    }

    /// Whether `target` could have been drawn from this range.
    fn holds(self, target: u32) -> bool {
        (u32::from(self.min)..=u32::from(self.max)).contains(&target)
    }
}

/// Draws the next target from `range` with `seed`: the same seed always gives the same target.
/// `None` when the range is off.
pub fn draw_target(range: AutoRange, seed: u64) -> Option<u32> {
    if range.is_off() {
        return None;
    }
    let span = u64::from(range.max - range.min) + 1;
    // Snowflakes that follow each other differ only in their low bits; mixing them first spreads
    // consecutive seeds over the whole range (the splitmix64 finaliser).
    let mut z = seed.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^= z >> 31;
    let offset = u32::try_from(z % span).unwrap_or(0);
    Some(u32::from(range.min) + offset)
}

/// One channel's count of people's messages since its last unaddressed answer, and the target of
/// this cycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct AutoCounter {
    count: u32,
    /// 0 until the cycle's target is drawn.
    target: u32,
}

impl AutoCounter {
    /// Counts one person's message in an auto-trigger channel; true when it reaches the cycle's
    /// target (the bot joins in), which starts a new cycle. A cycle's target is drawn with the
    /// `seed` of its first message, and drawn again when the range changed under it. An off
    /// range counts nothing.
    pub fn advance(&mut self, range: AutoRange, seed: u64) -> bool {
        let Some(fresh) = draw_target(range, seed) else {
            *self = Self::default();
            return false;
        };
        if !range.holds(self.target) {
            self.target = fresh;
        }
        self.count += 1;
        if self.count >= self.target {
            *self = Self::default();
            return true;
        }
        false
    }
}

#[cfg(test)]
mod tests;
