//! How names from a DHIS2 export are compared and shown (TPR.md 1.2 and section 2).

/// The form in which header cells are compared with the names mrpt recognises: the `≥` mojibake
/// and `>=` read as `≥`, `&` as `and`, lower case, and each run of white space one space.
pub fn match_form(header: &str) -> String {
    let fixed = header
        .trim()
        .replace("Ã¢â€°Â¥", "≥")
        .replace("â‰¥", "≥")
        .replace(">=", "≥")
        .replace('&', "and");
    squeeze(&fixed.to_lowercase())
}

/// A name as it is shown: trimmed, each run of white space one space.
pub fn display(text: &str) -> String {
    squeeze(text.trim())
}

fn squeeze(text: &str) -> String {
    let mut words = text.split_whitespace();
    let mut out = String::with_capacity(text.len());
    if let Some(first) = words.next() {
        out.push_str(first);
        for w in words {
            out.push(' ');
            out.push_str(w);
        }
    }
    out
}

/// The roman numerals DHIS2 ward names use for numbered wards, replaced by digits.
const ROMAN: [(&str, &str); 9] = [
    ("i", "1"),
    ("ii", "2"),
    ("iii", "3"),
    ("iv", "4"),
    ("v", "5"),
    ("vi", "6"),
    ("vii", "7"),
    ("viii", "8"),
    ("ix", "9"),
];

/// The name used to group and match wards and LGAs: prefixes, `Ward`, `LGA` suffixes and
/// separators dropped, roman numerals as digits (TPR.md section 2).
pub fn key(text: &str) -> String {
    let before_bracket = text.split('(').next().unwrap_or_default();
    let spaced: String = before_bracket
        .chars()
        .map(|c| if matches!(c, '-' | '/' | '_') { ' ' } else { c })
        .collect::<String>()
        .to_lowercase();
    let mut words: Vec<&str> = spaced.split_whitespace().collect();
    if words.len() >= 2 && is_state_prefix(words[0]) {
        words.remove(0);
    }
    words.retain(|w| *w != "ward");
    if words.ends_with(&["local", "government", "area"]) {
        words.truncate(words.len() - 3);
    } else if words.last() == Some(&"lga") {
        words.pop();
    }
    let digits = words
        .iter()
        .map(|w| ROMAN.iter().find(|(r, _)| r == w).map_or(*w, |(_, d)| *d));
    digits.collect::<Vec<_>>().join(" ")
}

/// A DHIS2 state prefix such as `kn` or `kw`: exactly two ASCII letters.
fn is_state_prefix(word: &str) -> bool {
    word.len() == 2 && word.bytes().all(|b| b.is_ascii_alphabetic())
}

/// The state's name from a state cell: `kw Kwara State` -> `Kwara`.
pub fn state_name(cell: &str) -> String {
    let shown = display(cell);
    let mut words: Vec<&str> = shown.split(' ').collect();
    if words.len() >= 2 && is_state_prefix(words[0]) {
        words.remove(0);
    }
    if words.len() >= 2
        && words
            .last()
            .is_some_and(|w| w.eq_ignore_ascii_case("state"))
    {
        words.pop();
    }
    words.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn match_form_reads_mojibake_ampersand_and_spaces() {
        let garbled = "Persons presenting with fever & tested by RDT  â‰¥5yrs (excl PW)";
        let want = "persons presenting with fever and tested by rdt ≥5yrs (excl pw)";
        assert_eq!(match_form(garbled), want);
        assert_eq!(
            match_form(" Persons presenting with fever and tested by RDT >=5yrs (excl PW) "),
            want
        );
        assert_eq!(
            match_form("Persons presenting with fever & tested by RDT Ã¢â€°Â¥5yrs (excl PW)"),
            want
        );
        assert_eq!(match_form("Facility\u{a0}\tLevel"), "facility level");
    }

    #[test]
    fn display_squeezes_white_space() {
        assert_eq!(display("  kn  Rakuna Gari Ward "), "kn Rakuna Gari Ward");
    }

    #[test]
    fn keys_follow_the_steps_of_section_2() {
        assert_eq!(key("kn  Gidan Hawaba Ward "), "gidan hawaba");
        assert_eq!(key("Gidan Hawaba"), "gidan hawaba");
        assert_eq!(key("kw Ilorin West Local Government Area"), "ilorin west");
        assert_eq!(key("Batsalo LGA"), "batsalo");
        assert_eq!(key("Ward II (old)"), "2");
        assert_eq!(key("Sabon-Gari/Kudu_Ward iv"), "sabon gari kudu 4");
        // A two-letter first word stays when it is the only word, or not letters.
        assert_eq!(key("kn"), "kn");
        assert_eq!(key("k1 Gafa"), "k1 gafa");
        assert_eq!(key("Unknown"), "unknown");
        assert_eq!(key("  "), "");
        assert_eq!(key("(x)"), "");
        assert_eq!(key("kn Ward"), "");
    }

    #[test]
    fn state_names() {
        assert_eq!(state_name("kw Kwara State"), "Kwara");
        assert_eq!(state_name("kn  Kano  STATE "), "Kano");
        assert_eq!(state_name("Kano"), "Kano");
        assert_eq!(state_name("State"), "State");
    }
}
