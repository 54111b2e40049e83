//! The judgements on answers: whether one is a bleed (another user's data
//! or power reached), an unexpected error, or fine. Pure functions of the
//! answer and of what the run knows, so that each can be shown to fire.

use super::fixture::Marker;
use super::registry::Owned;
use reqwest::StatusCode;
use serde_json::Value;
use sha2::{Digest, Sha256};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Finding {
    /// Another user's data or ids reached this user, or this user's
    /// request reached another's data.
    Bleed(String),
    /// A wrong or failed answer that reveals nothing of another user.
    Error { code: String, detail: String },
}

impl Finding {
    pub fn error(code: impl Into<String>, detail: impl Into<String>) -> Self {
        Self::Error { code: code.into(), detail: detail.into() }
    }
}

pub type Verdict = Result<(), Finding>;

/// Whether an id belongs to another user of the run.
pub type Foreign<'a> = &'a dyn Fn(&str) -> bool;

/// The key of an unexpected answer in the errors-by-code table.
pub fn answer_code(status: StatusCode, code: Option<&str>) -> String {
    format!("{} {}", status.as_u16(), code.unwrap_or("-"))
}

/// Any user marker in the body other than the user's own. A marker cut
/// short (a shortened chart label) counts as the user's own when its
/// digits begin the user's own.
pub fn markers(body: &[u8], own: &Marker) -> Verdict {
    let prefix = Marker::PREFIX.as_bytes();
    let own_hex = own.hex().as_bytes();
    let mut foreign: Vec<String> = Vec::new();
    let mut rest = body;
    while let Some(at) = rest.windows(prefix.len()).position(|window| window == prefix) {
        let after = &rest[at + prefix.len()..];
        let digits = after.iter().take(Marker::HEX_DIGITS).take_while(|b| b.is_ascii_hexdigit()).count();
        let seen = &after[..digits];
        if !own_hex[..digits].eq_ignore_ascii_case(seen) {
            let marker = format!("{}{}", Marker::PREFIX, String::from_utf8_lossy(seen));
            if !foreign.contains(&marker) {
                foreign.push(marker);
            }
        }
        rest = after;
    }
    if foreign.is_empty() {
        Ok(())
    } else {
        Err(Finding::Bleed(format!("the answer carries other users' markers {} (own {own})", foreign.join(", "))))
    }
}

/// A read of the user's own object shows the user's wards.
pub fn carries(body: &[u8], own: &Marker) -> Verdict {
    let marker = own.as_str().as_bytes();
    if body.windows(marker.len()).any(|window| window == marker) {
        Ok(())
    } else {
        Err(Finding::error("wrong_answer", format!("the answer does not show the user's wards ({own})")))
    }
}

/// API.md: nothing under `/api/` may be stored by a shared cache.
pub fn not_cacheable(cache_control: Option<&str>, vary: Option<&str>) -> Verdict {
    let no_store = cache_control.is_some_and(|value| value.split(',').any(|part| part.trim().eq_ignore_ascii_case("no-store")));
    let varies = vary.is_some_and(|value| value.split(',').any(|part| part.trim().eq_ignore_ascii_case("cookie")));
    if no_store && varies {
        Ok(())
    } else {
        Err(Finding::error("cacheable_answer", format!("Cache-Control {cache_control:?}, Vary {vary:?}: want no-store and Cookie")))
    }
}

/// API.md: only login, logout, revocation and account deletion set a
/// cookie; one set anywhere else could end up in a shared cache.
pub fn sets_no_cookie(set_cookie: Option<&str>) -> Verdict {
    match set_cookie {
        None => Ok(()),
        Some(_) => Err(Finding::error("unexpected_set_cookie", "the answer sets a cookie")),
    }
}

pub fn status(status: StatusCode, code: Option<&str>, expected: u16) -> Verdict {
    if status.as_u16() == expected {
        Ok(())
    } else {
        Err(Finding::error(answer_code(status, code), format!("answered {status} {}, expected {expected}", code.unwrap_or("-"))))
    }
}

/// Another user's id must be unknown: 404 `not_found`, like an id that
/// never existed. Any success means the request reached their data.
pub fn probe(status: StatusCode, code: Option<&str>) -> Verdict {
    if status.is_success() {
        Err(Finding::Bleed(format!("another user's id was answered {status}")))
    } else if status == StatusCode::NOT_FOUND && code == Some("not_found") {
        Ok(())
    } else {
        Err(Finding::error(answer_code(status, code), format!("another user's id was answered {status} {}, expected 404 not_found", code.unwrap_or("-"))))
    }
}

/// A download must be exactly the bytes this user uploaded.
pub fn file_hash(body: &[u8], uploaded: &str) -> Verdict {
    let got = hex::encode(Sha256::digest(body));
    if got == uploaded {
        Ok(())
    } else {
        Err(Finding::Bleed(format!("the file has SHA-256 {got}, the user uploaded {uploaded}")))
    }
}

/// An answer about one object must be about the one asked for. Naming
/// another user's object is a bleed; naming some other object is wrong.
pub fn same_id(what: &str, got: Option<&str>, asked: &str, foreign: Foreign) -> Verdict {
    match got {
        Some(id) if id == asked => Ok(()),
        Some(id) if foreign(id) => Err(Finding::Bleed(format!("asked for {what} {asked}, got another user's {id}"))),
        got => Err(Finding::error("wrong_answer", format!("asked for {what} {asked}, got {got:?}"))),
    }
}

fn text<'a>(doc: &'a Value, field: &str) -> Option<&'a str> {
    doc[field].as_str()
}

fn must_carry(what: &str, value: Option<&str>, own: &Marker) -> Verdict {
    match value {
        Some(value) if value.contains(own.as_str()) => Ok(()),
        value => Err(Finding::Bleed(format!("{what} {value:?} is not this user's (no {own})"))),
    }
}

fn entries<'a>(doc: &'a Value, field: &str) -> Result<&'a Vec<Value>, Finding> {
    doc[field].as_array().ok_or_else(|| Finding::error("unexpected_body", format!("no `{field}` list in the answer")))
}

fn must_list(what: &str, listed: &[&str], own: &[String]) -> Verdict {
    match own.iter().find(|id| !listed.contains(&id.as_str())) {
        Some(missing) => Err(Finding::error("missing_own", format!("the user's {what} {missing} is not listed"))),
        None => Ok(()),
    }
}

/// `GET /api/datasets/{id}`: the dataset asked for, with the uploaded hash,
/// and a preview whose ward cells are all the user's.
pub fn dataset(doc: &Value, asked: &str, sha256: &str, own: &Marker, foreign: Foreign) -> Verdict {
    same_id("dataset", text(doc, "id"), asked, foreign)?;
    if text(doc, "sha256") != Some(sha256) {
        return Err(Finding::Bleed(format!("dataset {asked} claims SHA-256 {:?}, the user uploaded {sha256}", doc["sha256"])));
    }
    must_carry("dataset name", text(doc, "name"), own)?;
    let Some(rows) = doc["preview"]["rows"].as_array() else { return Ok(()) };
    let columns = entries(&doc["preview"], "columns")?;
    let ward = columns.iter().position(|column| column.as_str() == text(doc, "ward_column"));
    let ward = ward.ok_or_else(|| Finding::error("unexpected_body", "the preview has no ward column"))?;
    rows.iter().try_for_each(|row| must_carry("preview ward", row[ward].as_str(), own))
}

/// `GET /api/datasets`: every dataset listed is the user's, and the user's
/// own are all there.
pub fn dataset_list(doc: &Value, owned: &Owned, own: &Marker, foreign: Foreign) -> Verdict {
    let listed = entries(doc, "datasets")?;
    for dataset in listed {
        if let Some(id) = text(dataset, "id").filter(|id| foreign(id)) {
            return Err(Finding::Bleed(format!("the list shows another user's dataset {id}")));
        }
        must_carry("listed dataset name", text(dataset, "name"), own)?;
    }
    must_list("dataset", &listed.iter().filter_map(|d| text(d, "id")).collect::<Vec<_>>(), &owned.datasets)
}

/// `GET /api/analyses`: every analysis listed is of one of the user's
/// datasets, and the user's own are all there.
pub fn analysis_list(doc: &Value, owned: &Owned, foreign: Foreign) -> Verdict {
    let listed = entries(doc, "analyses")?;
    for analysis in listed {
        let id = text(analysis, "id").unwrap_or_default();
        let dataset = text(analysis, "dataset_id").unwrap_or_default();
        if foreign(id) || !owned.datasets.iter().any(|own| own == dataset) {
            return Err(Finding::Bleed(format!("the list shows analysis {id} of dataset {dataset}, not the user's")));
        }
    }
    must_list("analysis", &listed.iter().filter_map(|a| text(a, "id")).collect::<Vec<_>>(), &owned.analyses)
}

/// `GET /api/analyses/{id}`: the analysis asked for, of the user's
/// dataset, ranking the user's wards.
pub fn analysis(doc: &Value, asked: &str, owned: &Owned, own: &Marker, foreign: Foreign) -> Verdict {
    same_id("analysis", text(doc, "id"), asked, foreign)?;
    let dataset = text(doc, "dataset_id").unwrap_or_default();
    if !owned.datasets.iter().any(|own| own == dataset) {
        return Err(Finding::Bleed(format!("analysis {asked} is of dataset {dataset}, not the user's")));
    }
    entries(&doc["composite"], "wards")?.iter().try_for_each(|ward| must_carry("ranked ward", text(ward, "ward"), own))
}

/// `GET /api/itn/{id}`: the plan asked for, of the user's analysis, over
/// the user's wards.
pub fn plan(doc: &Value, asked: &str, owned: &Owned, own: &Marker, foreign: Foreign) -> Verdict {
    same_id("plan", text(doc, "id"), asked, foreign)?;
    let analysis = text(doc, "analysis_id").unwrap_or_default();
    if !owned.analyses.iter().any(|own| own == analysis) {
        return Err(Finding::Bleed(format!("plan {asked} is of analysis {analysis}, not the user's")));
    }
    entries(doc, "wards")?.iter().try_for_each(|ward| must_carry("planned ward", text(ward, "ward"), own))
}

/// `GET /api/session`: the caller's own user and session.
pub fn session(doc: &Value, session: &str, owned: &Owned) -> Verdict {
    let user = doc["user"]["id"].as_str().unwrap_or_default();
    let current = doc["session"]["id"].as_str().unwrap_or_default();
    if user != owned.user || current != session {
        return Err(Finding::Bleed(format!("the session answer names user {user} session {current}, the caller is user {} session {session}", owned.user)));
    }
    Ok(())
}

/// `GET /api/sessions`: none of another user's sessions, and the caller's
/// own marked current. Sessions the run does not know may be the user's
/// own (a login repeated after a lost answer), so only foreign ids count.
pub fn session_list(doc: &Value, session: &str, foreign: Foreign) -> Verdict {
    let listed = entries(doc, "sessions")?;
    if let Some(id) = listed.iter().filter_map(|s| text(s, "id")).find(|id| foreign(id)) {
        return Err(Finding::Bleed(format!("the list shows another user's session {id}")));
    }
    let current: Vec<&str> = listed.iter().filter(|s| s["current"] == Value::Bool(true)).filter_map(|s| text(s, "id")).collect();
    if current != [session] {
        return Err(Finding::error("wrong_answer", format!("sessions marked current: {current:?}, expected [{session}]")));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn mine() -> Marker {
        Marker::from_bits(0x1111_2222_3333_4444)
    }

    fn theirs() -> Marker {
        Marker::from_bits(0xdead_beef_0000_0001)
    }

    fn owned() -> Owned {
        Owned {
            user: "u1".into(),
            sessions: vec!["s1".into()],
            datasets: vec!["d1".into()],
            analyses: vec!["a1".into()],
            plans: vec!["p1".into()],
        }
    }

    /// Ids of the other user of these tests.
    fn foreign(id: &str) -> bool {
        ["u2", "s2", "d2", "a2", "p2"].contains(&id)
    }

    fn is_bleed(verdict: Verdict) -> bool {
        matches!(verdict, Err(Finding::Bleed(_)))
    }

    #[test]
    fn another_users_marker_anywhere_in_a_body_is_a_bleed() {
        let body = format!("<svg><title>{} Kaki</title><title>{} Kaki</title></svg>", mine(), theirs());
        let verdict = markers(body.as_bytes(), &mine());
        assert!(is_bleed(verdict.clone()));
        assert!(format!("{verdict:?}").contains(theirs().as_str()));
        assert_eq!(markers(format!("ward,{} Kaki\n", mine()).as_bytes(), &mine()), Ok(()));
        assert_eq!(markers(b"no marker at all", &mine()), Ok(()));
        assert_eq!(carries(body.as_bytes(), &mine()), Ok(()));
        assert!(carries(b"ward,Kaki", &mine()).is_err());
    }

    #[test]
    fn a_shortened_marker_is_judged_by_the_digits_it_keeps() {
        assert_eq!(markers(b"MRPTMARK-11112222\xe2\x80\xa6", &mine()), Ok(()));
        assert!(is_bleed(markers(b"MRPTMARK-dead\xe2\x80\xa6", &mine())));
        assert!(is_bleed(markers(theirs().as_str().to_uppercase().as_bytes(), &mine())));
    }

    #[test]
    fn a_foreign_id_answered_with_success_is_a_bleed() {
        assert!(is_bleed(probe(StatusCode::OK, None)));
        assert!(is_bleed(probe(StatusCode::NO_CONTENT, None)), "a DELETE of another user's object succeeded");
        assert_eq!(probe(StatusCode::NOT_FOUND, Some("not_found")), Ok(()));
        let other = probe(StatusCode::FORBIDDEN, Some("csrf_failed"));
        assert_eq!(other, Err(Finding::error("403 csrf_failed", "another user's id was answered 403 Forbidden csrf_failed, expected 404 not_found")));
    }

    #[test]
    fn a_download_with_another_hash_is_a_bleed() {
        let uploaded = hex::encode(Sha256::digest(b"mine"));
        assert_eq!(file_hash(b"mine", &uploaded), Ok(()));
        assert!(is_bleed(file_hash(b"theirs", &uploaded)));
    }

    #[test]
    fn cacheable_answers_are_errors() {
        assert_eq!(not_cacheable(Some("no-store"), Some("Cookie")), Ok(()));
        assert_eq!(not_cacheable(Some("private, no-store"), Some("Accept-Encoding, cookie")), Ok(()));
        assert!(matches!(not_cacheable(None, Some("Cookie")), Err(Finding::Error { code, .. }) if code == "cacheable_answer"));
        assert!(not_cacheable(Some("max-age=60"), Some("Cookie")).is_err());
        assert!(not_cacheable(Some("no-store"), None).is_err());
        assert_eq!(sets_no_cookie(None), Ok(()));
        assert!(sets_no_cookie(Some("mrpt_session=x; Path=/")).is_err());
    }

    #[test]
    fn a_dataset_answer_must_be_the_one_asked_with_the_users_wards() {
        let sha = "ab".repeat(32);
        let good = json!({"id": "d1", "sha256": sha, "name": format!("{} wards", mine()), "ward_column": "WardName",
            "preview": {"columns": ["WardName", "Population"], "rows": [[format!("{} Kaki", mine()), 10]]}});
        assert_eq!(dataset(&good, "d1", &sha, &mine(), &foreign), Ok(()));
        let mut other = good.clone();
        other["id"] = json!("d2");
        assert!(is_bleed(dataset(&other, "d1", &sha, &mine(), &foreign)));
        let mut unknown = good.clone();
        unknown["id"] = json!("d9");
        assert!(matches!(dataset(&unknown, "d1", &sha, &mine(), &foreign), Err(Finding::Error { code, .. }) if code == "wrong_answer"));
        let mut hash = good.clone();
        hash["sha256"] = json!("cd".repeat(32));
        assert!(is_bleed(dataset(&hash, "d1", &sha, &mine(), &foreign)));
        let mut ward = good.clone();
        ward["preview"]["rows"][0][0] = json!("Kaki");
        assert!(is_bleed(dataset(&ward, "d1", &sha, &mine(), &foreign)), "a ward without the user's marker");
    }

    #[test]
    fn listings_show_only_and_all_of_the_users_own() {
        let name = format!("{} wards", mine());
        let good = json!({"datasets": [{"id": "d1", "name": name}]});
        assert_eq!(dataset_list(&good, &owned(), &mine(), &foreign), Ok(()));
        let extra = json!({"datasets": [{"id": "d1", "name": name}, {"id": "d2", "name": name}]});
        assert!(is_bleed(dataset_list(&extra, &owned(), &mine(), &foreign)));
        let unmarked = json!({"datasets": [{"id": "d1", "name": name}, {"id": "d7", "name": "someone's wards"}]});
        assert!(is_bleed(dataset_list(&unmarked, &owned(), &mine(), &foreign)));
        let missing = dataset_list(&json!({"datasets": []}), &owned(), &mine(), &foreign);
        assert!(matches!(missing, Err(Finding::Error { code, .. }) if code == "missing_own"));

        assert_eq!(analysis_list(&json!({"analyses": [{"id": "a1", "dataset_id": "d1"}]}), &owned(), &foreign), Ok(()));
        assert!(is_bleed(analysis_list(&json!({"analyses": [{"id": "a1", "dataset_id": "d1"}, {"id": "a2", "dataset_id": "d2"}]}), &owned(), &foreign)));
        assert!(is_bleed(analysis_list(&json!({"analyses": [{"id": "a1", "dataset_id": "d1"}, {"id": "a9", "dataset_id": "d9"}]}), &owned(), &foreign)));

        let sessions = json!({"sessions": [{"id": "s1", "current": true}, {"id": "s8", "current": false}]});
        assert_eq!(session_list(&sessions, "s1", &foreign), Ok(()));
        let leaked = json!({"sessions": [{"id": "s1", "current": true}, {"id": "s2", "current": false}]});
        assert!(is_bleed(session_list(&leaked, "s1", &foreign)));
    }

    #[test]
    fn analyses_plans_and_sessions_must_be_the_callers() {
        let wards = json!({"wards": [{"ward": format!("{} Kaki", mine())}]});
        let good = json!({"id": "a1", "dataset_id": "d1", "composite": wards});
        assert_eq!(analysis(&good, "a1", &owned(), &mine(), &foreign), Ok(()));
        assert!(is_bleed(analysis(&json!({"id": "a1", "dataset_id": "d2", "composite": wards}), "a1", &owned(), &mine(), &foreign)));
        let their_wards = json!({"wards": [{"ward": format!("{} Kaki", theirs())}]});
        assert!(is_bleed(analysis(&json!({"id": "a1", "dataset_id": "d1", "composite": their_wards}), "a1", &owned(), &mine(), &foreign)));

        let plan_doc = json!({"id": "p1", "analysis_id": "a1", "wards": [{"ward": format!("{} Kaki", mine())}]});
        assert_eq!(plan(&plan_doc, "p1", &owned(), &mine(), &foreign), Ok(()));
        assert!(is_bleed(plan(&json!({"id": "p2", "analysis_id": "a2", "wards": []}), "p1", &owned(), &mine(), &foreign)));

        let me = json!({"user": {"id": "u1"}, "session": {"id": "s1"}});
        assert_eq!(session(&me, "s1", &owned()), Ok(()));
        assert!(is_bleed(session(&json!({"user": {"id": "u2"}, "session": {"id": "s2"}}), "s1", &owned())));
    }
}
