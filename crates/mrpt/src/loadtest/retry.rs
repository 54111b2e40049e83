//! When the load tester asks again instead of judging an answer: after 503
//! `store_unavailable` (the store is paused or away: allowed, for a while),
//! and once after a lost answer for calls whose repetition is harmless.
//! Any other answer is judged as it is, so a wrong answer is never retried
//! away.

use super::client::{Failure, Reply};
use std::time::Duration;

/// How long to wait before asking again after 503 `store_unavailable`.
pub const UNAVAILABLE_BACKOFF: Duration = Duration::from_millis(200);
/// How long a store may stay away before its absence is an error.
pub const UNAVAILABLE_PATIENCE: Duration = Duration::from_secs(5);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retry {
    /// Sending it twice has the effect of sending it once.
    AfterLostAnswer,
    /// The caller decides what a lost answer means.
    Never,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// The store was unavailable: wait, then ask again.
    AskAgainLater,
    /// The answer was lost: send the call again at once.
    SendAgain,
    /// Judge this outcome.
    Judge,
}

/// What to do with one attempt's outcome. `resent`: the call was already
/// sent again after a lost answer; `patient`: the store may stay away a
/// little longer.
pub fn next(outcome: &Result<Reply, Failure>, retry: Retry, resent: bool, patient: bool) -> Next {
    match outcome {
        Ok(reply) if reply.is_store_unavailable() && patient => Next::AskAgainLater,
        Err(failure) if failure.answer_lost() && retry == Retry::AfterLostAnswer && !resent => Next::SendAgain,
        _ => Next::Judge,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderMap;
    use reqwest::StatusCode;

    fn reply(status: u16, body: &str) -> Result<Reply, Failure> {
        let status = StatusCode::from_u16(status).unwrap();
        Ok(Reply { status, headers: HeaderMap::new(), body: body.to_owned().into() })
    }

    const UNAVAILABLE: &str = r#"{"error":{"code":"store_unavailable","message":"m","request_id":"r"}}"#;

    #[test]
    fn a_paused_store_is_asked_again_while_patience_lasts_then_judged() {
        assert_eq!(next(&reply(503, UNAVAILABLE), Retry::Never, false, true), Next::AskAgainLater);
        assert_eq!(next(&reply(503, UNAVAILABLE), Retry::AfterLostAnswer, true, true), Next::AskAgainLater);
        assert_eq!(next(&reply(503, UNAVAILABLE), Retry::AfterLostAnswer, false, false), Next::Judge);
    }

    #[test]
    fn a_lost_answer_is_sent_again_once_and_only_when_harmless() {
        let lost = || Err(Failure::Connection("reset".into()));
        assert_eq!(next(&lost(), Retry::AfterLostAnswer, false, true), Next::SendAgain);
        assert_eq!(next(&lost(), Retry::AfterLostAnswer, true, true), Next::Judge);
        assert_eq!(next(&lost(), Retry::Never, false, true), Next::Judge);
        let relayed = Err(Failure::Gateway("502".into()));
        assert_eq!(next(&relayed, Retry::AfterLostAnswer, false, true), Next::SendAgain);
        assert_eq!(next(&Err(Failure::Timeout("slow".into())), Retry::AfterLostAnswer, false, true), Next::Judge);
    }

    #[test]
    fn every_other_answer_is_judged_as_it_is() {
        let other_error = r#"{"error":{"code":"internal","message":"m","request_id":"r"}}"#;
        for (status, body) in [(200, "{}"), (404, "{}"), (500, other_error), (503, other_error)] {
            assert_eq!(next(&reply(status, body), Retry::AfterLostAnswer, false, true), Next::Judge, "{status} {body}");
        }
    }
}
