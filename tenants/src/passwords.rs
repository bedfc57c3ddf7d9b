//! The password policy for members and clients: at least 12 characters, at most 256, and not
//! guessable — zxcvbn (which carries the common-password lists) must rate it 3 of 4 or better,
//! counting the person's own name and email as guessable words.

pub const MIN_CHARS: usize = 12;
pub const MAX_CHARS: usize = 256;
/// zxcvbn's cost grows with length; beyond this many characters length alone makes it strong.
const SCORED_PREFIX: usize = 64;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PasswordRejected {
    #[error("password must be at least {MIN_CHARS} characters long")]
    TooShort,
    #[error("password must be at most {MAX_CHARS} characters long")]
    TooLong,
    #[error("password is too easy to guess{0}")]
    TooWeak(String),
}

/// Checks `password` against the policy. `context` holds words a guesser would try first
/// (the person's name and email, the firm's name).
pub fn check(password: &str, context: &[&str]) -> Result<(), PasswordRejected> {
    let chars = password.chars().count();
    if chars < MIN_CHARS {
        return Err(PasswordRejected::TooShort);
    }
    if chars > MAX_CHARS {
        return Err(PasswordRejected::TooLong);
    }
    let scored: String = password.chars().take(SCORED_PREFIX).collect();
    // Each context item, its words, and its letters run together ("Ada Lovelace" →
    // "adalovelace"), so a name with the spaces taken out is still recognised.
    let mut owned: Vec<String> = Vec::new();
    for item in context {
        owned.push(item.to_lowercase());
        owned.push(
            item.chars()
                .filter(|c| c.is_alphanumeric())
                .collect::<String>()
                .to_lowercase(),
        );
        if let Some((local, _)) = item.split_once('@') {
            owned.push(
                local
                    .chars()
                    .filter(|c| c.is_alphanumeric())
                    .collect::<String>()
                    .to_lowercase(),
            );
        }
        owned.extend(
            item.split(|c: char| !c.is_alphanumeric())
                .filter(|w| w.len() >= 3)
                .map(str::to_lowercase),
        );
    }
    let words: Vec<&str> = owned
        .iter()
        .map(String::as_str)
        .filter(|w| !w.is_empty())
        .collect();
    let entropy = zxcvbn::zxcvbn(&scored, &words);
    if u8::from(entropy.score()) >= 3 {
        return Ok(());
    }
    let hint = entropy
        .feedback()
        .and_then(|f| f.warning())
        .map(|w| format!(": {w}"))
        .unwrap_or_default();
    Err(PasswordRejected::TooWeak(hint))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn length_bounds() {
        assert_eq!(check("Sh0rt!pw", &[]), Err(PasswordRejected::TooShort));
        assert_eq!(check(&"x".repeat(257), &[]), Err(PasswordRejected::TooLong));
    }

    #[test]
    fn common_and_personal_passwords_are_refused() {
        for weak in [
            "password1234",
            "password123456",
            "qwertyuiop123",
            "iloveyou2024!",
            "123456789012",
        ] {
            assert!(
                matches!(check(weak, &[]), Err(PasswordRejected::TooWeak(_))),
                "{weak}"
            );
        }
        assert!(matches!(
            check(
                "adalovelace1815",
                &["Ada Lovelace", "ada.lovelace@example.com"]
            ),
            Err(PasswordRejected::TooWeak(_))
        ));
    }

    #[test]
    fn strong_and_long_passwords_pass() {
        assert_eq!(check("correct horse battery staple", &[]), Ok(()));
        assert_eq!(check("Tr0ub4dor&3-plus-more", &[]), Ok(()));
        let emoji: String = "🦀 crab-walk sideways "
            .repeat(7)
            .chars()
            .take(128)
            .collect();
        assert_eq!(emoji.chars().count(), 128);
        assert_eq!(check(&emoji, &[]), Ok(()));
    }
}
