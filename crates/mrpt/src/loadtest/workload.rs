//! One simulated user's part of a run: sign up, upload the marked ward
//! table, analyse it and plan bed nets, then rounds of every read the
//! server offers on the user's own objects, a new plan, and probes of
//! another user's ids, judging every answer; at the very end, a check that
//! every upload the server acknowledged is still there, byte for byte.

use super::checks::{self, Finding, Verdict};
use super::client::{Call, Credentials, Failure, Reply, Transport};
use super::endpoints::{Endpoints, Kind};
use super::fixture::{Marker, WardTable};
use super::progress::Progress;
use super::registry::{Owned, Registry};
use super::report::Recorder;
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::sync::Arc;
use tokio::sync::Barrier;

/// Everything the users of a run share.
pub struct Run {
    pub transport: Transport,
    pub endpoints: Endpoints,
    pub registry: Registry,
    pub recorder: Arc<Recorder>,
    pub rounds: usize,
    pub progress: Progress,
    pub started: Barrier,
    pub finished: Barrier,
}

impl Run {
    fn rounds_done(&self, rounds: usize) {
        let (bleeds, errors) = self.recorder.tally();
        self.progress.advance(rounds as u64, bleeds, errors);
    }
}

/// One user's whole part of the run. Failures are recorded, not returned:
/// a user that cannot go on stops, the others carry on.
pub async fn simulate(run: Arc<Run>, index: usize) {
    let user = User::start(&run, index).await;
    // Every user's ids are in the registry before anyone probes, so that
    // every probe has a target.
    run.started.wait().await;
    match &user {
        Some(user) => {
            for _ in 0..run.rounds {
                user.round().await;
                run.rounds_done(1);
            }
        }
        None => run.rounds_done(run.rounds),
    }
    // Uploads are checked once all users are done, so that the check comes
    // after whatever the servers went through during the run.
    run.finished.wait().await;
    if let Some(user) = user {
        user.verify_uploads().await;
    }
}

struct User<'a> {
    run: &'a Run,
    index: usize,
    marker: Marker,
    table: Arc<WardTable>,
    credentials: Credentials,
    session: String,
}

impl<'a> User<'a> {
    async fn sign_up(run: &'a Run, index: usize) -> Option<User<'a>> {
        let marker = Marker::random();
        let password = hex::encode(rand::random::<[u8; 16]>());
        let account = json!({"username": format!("lt-{}", marker.hex()), "password": password});
        let table = Arc::new(WardTable::marked(&marker));
        let mut user = User { run, index, marker, table, credentials: Credentials::default(), session: String::new() };

        // Repeated after a lost answer, a registration meets the account
        // the first one made; a clash of 64 random bits is not expected
        // otherwise, and would show at login.
        let register = Call::post("/api/auth/register", None, account.clone()).repeatable();
        let registered = user.call(&register).await?;
        if registered.status != StatusCode::CONFLICT {
            user.judge(&register, Some(&registered), checks::status(registered.status, registered.error_code().as_deref(), 201))?;
        }

        // A second login after a lost answer leaves a second session of the
        // same user: harmless, and `/api/sessions` checks allow for it.
        let login = Call::post("/api/auth/login", None, account).repeatable();
        let (reply, doc) = user.expect_json(&login, 200).await?;
        let session = doc["session"]["id"].as_str().map(str::to_owned);
        let found = Credentials::from_login(&reply, &doc).zip(session).zip(doc["user"]["id"].as_str());
        let missing = || Finding::error("unexpected_body", "the login answer lacks the cookie, CSRF token, user or session");
        user.judge(&login, Some(&reply), found.as_ref().map(|_| ()).ok_or_else(missing))?;
        let ((credentials, session), user_id) = found?;
        user.credentials = credentials;
        user.session = session.clone();
        run.registry.update(index, |owned| {
            owned.user = user_id.to_owned();
            owned.sessions.push(session);
        });
        Some(user)
    }

    fn owned(&self) -> Owned {
        self.run.registry.owned(self.index)
    }

    fn foreign(&self, id: &str) -> bool {
        self.run.registry.is_foreign(self.index, id)
    }

    /// Signs up and makes one object of each kind. `None` when there is no
    /// dataset to work on.
    async fn start(run: &'a Run, index: usize) -> Option<User<'a>> {
        let user = Self::sign_up(run, index).await?;
        let dataset = user.create(&Call::upload(user.table.clone()), Kind::Dataset).await?;
        run.registry.update(index, |owned| owned.datasets.push(dataset.clone()));
        let call = Call::post("/api/datasets/{id}/analyses", Some(&dataset), json!({}));
        if let Some(analysis) = user.create(&call, Kind::Analysis).await {
            run.registry.update(index, |owned| owned.analyses.push(analysis));
        }
        user.plan().await;
        Some(user)
    }

    /// A new bed-net plan of the user's analysis.
    async fn plan(&self) {
        let Some(analysis) = self.owned().latest(Kind::Analysis).map(str::to_owned) else { return };
        let call = Call::post("/api/analyses/{id}/itn", Some(&analysis), json!({"total_nets": 20000}));
        if let Some(id) = self.create(&call, Kind::Plan).await {
            self.run.registry.update(self.index, |owned| owned.plans.push(id));
        }
    }

    async fn round(&self) {
        let foreign = |id: &str| self.foreign(id);
        let owned = self.owned();
        self.read_json(&Call::get("/api/datasets", None), |doc| checks::dataset_list(doc, &owned, &self.marker, &foreign)).await;
        self.read_own(Kind::Dataset, &owned).await;
        self.read_json(&Call::get("/api/analyses", None), |doc| checks::analysis_list(doc, &owned, &foreign)).await;
        self.read_own(Kind::Analysis, &owned).await;
        self.plan().await;
        let owned = self.owned();
        self.read_own(Kind::Plan, &owned).await;

        self.read_json(&Call::get("/api/session", None), |doc| checks::session(doc, &self.session, &owned)).await;
        self.read_json(&Call::get("/api/sessions", None), |doc| checks::session_list(doc, &self.session, &foreign)).await;
        self.probe_someone_else().await;
    }

    /// Reads the user's latest object of a kind through every GET the
    /// server has for it.
    async fn read_own(&self, kind: Kind, owned: &Owned) {
        let Some(id) = owned.latest(kind) else { return };
        for route in self.run.endpoints.reads.iter().filter(|route| route.kind == kind) {
            let call = Call::get(&route.template, Some(id));
            if let Some(reply) = self.expect(&call, 200).await {
                let verdict = self.judge_read(&route.template, id, &reply, owned);
                self.judge(&call, Some(&reply), verdict);
            }
        }
    }

    fn judge_read(&self, template: &str, id: &str, reply: &Reply, owned: &Owned) -> Verdict {
        let foreign = |id: &str| self.foreign(id);
        let doc = || reply.json().ok_or_else(not_json);
        match template {
            "/api/datasets/{id}" => checks::dataset(&doc()?, id, &self.table.sha256, &self.marker, &foreign),
            "/api/datasets/{id}/file" => checks::file_hash(&reply.body, &self.table.sha256),
            "/api/analyses/{id}" => checks::analysis(&doc()?, id, owned, &self.marker, &foreign),
            "/api/itn/{id}" => checks::plan(&doc()?, id, owned, &self.marker, &foreign),
            _ => checks::carries(&reply.body, &self.marker),
        }
    }

    /// Downloads every dataset the server acknowledged to this user: each
    /// must still be there with the bytes uploaded.
    async fn verify_uploads(&self) {
        for id in &self.owned().datasets {
            let call = Call::get("/api/datasets/{id}/file", Some(id));
            if let Some(reply) = self.expect(&call, 200).await {
                if self.judge(&call, Some(&reply), checks::file_hash(&reply.body, &self.table.sha256)).is_some() {
                    self.run.recorder.upload_verified();
                }
            }
        }
    }

    /// Tries every GET and DELETE on one object with the ids of another
    /// user: each must be unknown to this user.
    async fn probe_someone_else(&self) {
        let Some(victim) = self.run.registry.someone_else(self.index) else { return };
        for route in &self.run.endpoints.probes {
            let Some(id) = victim.latest(route.kind) else { continue };
            let call = Call::new(route.method.clone(), &route.template, Some(id)).probe();
            if let Some(reply) = self.call(&call).await {
                self.judge(&call, Some(&reply), checks::probe(reply.status, reply.error_code().as_deref()));
            }
        }
    }

    /// Sends a POST that makes an object and returns the new id. It is not
    /// repeated blindly after a lost answer: the user's listing tells
    /// whether it landed first.
    async fn create(&self, call: &Call, kind: Kind) -> Option<String> {
        let reply = match self.exchange(call).await {
            Err(failure) if failure.answer_lost() => {
                self.run.recorder.retried();
                if let Some(id) = self.landed(kind).await {
                    return Some(id);
                }
                self.call(call).await?
            }
            outcome => self.noted(call, outcome)?,
        };
        self.judge(call, Some(&reply), checks::status(reply.status, reply.error_code().as_deref(), 201))?;
        let id = reply.json().and_then(|doc| doc["id"].as_str().map(str::to_owned));
        self.judge(call, Some(&reply), id.as_ref().map(|_| ()).ok_or_else(|| Finding::error("unexpected_body", "no id in the answer")))?;
        id
    }

    /// The object of a kind that a POST with a lost answer made, if the
    /// user's listing shows one the run does not know yet. Plans have no
    /// listing; a second plan of the user's own analysis is harmless, so
    /// that POST is simply sent again.
    async fn landed(&self, kind: Kind) -> Option<String> {
        let owned = self.owned();
        let (path, field) = match kind {
            Kind::Dataset => ("/api/datasets", "datasets"),
            Kind::Analysis => ("/api/analyses", "analyses"),
            Kind::Plan | Kind::Session => return None,
        };
        let (_, doc) = self.expect_json(&Call::get(path, None), 200).await?;
        let is_new = |entry: &Value| {
            let id = entry["id"].as_str().unwrap_or_default();
            match kind {
                Kind::Dataset => entry["sha256"] == self.table.sha256.as_str() && !owned.datasets.iter().any(|own| own == id),
                _ => owned.datasets.iter().any(|own| entry["dataset_id"] == own.as_str()) && !owned.analyses.iter().any(|own| own == id),
            }
        };
        doc[field].as_array()?.iter().find(|entry| is_new(entry)).and_then(|entry| entry["id"].as_str()).map(str::to_owned)
    }

    /// Sends a call and judges what every answer must satisfy: no other
    /// user's marker, nothing a shared cache may keep.
    async fn exchange(&self, call: &Call) -> Result<Reply, Failure> {
        let reply = self.run.transport.send(&self.credentials, call).await?;
        self.judge(call, Some(&reply), checks::markers(&reply.body, &self.marker));
        self.judge(call, Some(&reply), checks::not_cacheable(reply.header("cache-control"), reply.header("vary")));
        if call.template != "/api/auth/login" {
            self.judge(call, Some(&reply), checks::sets_no_cookie(reply.header("set-cookie")));
        }
        Ok(reply)
    }

    fn noted(&self, call: &Call, outcome: Result<Reply, Failure>) -> Option<Reply> {
        match outcome {
            Ok(reply) => Some(reply),
            Err(failure) => {
                self.judge(call, None, Err(Finding::error(failure.code(), failure.to_string())));
                None
            }
        }
    }

    async fn call(&self, call: &Call) -> Option<Reply> {
        let outcome = self.exchange(call).await;
        self.noted(call, outcome)
    }

    async fn expect(&self, call: &Call, status: u16) -> Option<Reply> {
        let reply = self.call(call).await?;
        self.judge(call, Some(&reply), checks::status(reply.status, reply.error_code().as_deref(), status))?;
        Some(reply)
    }

    async fn expect_json(&self, call: &Call, status: u16) -> Option<(Reply, Value)> {
        let reply = self.expect(call, status).await?;
        let doc = reply.json();
        self.judge(call, Some(&reply), doc.as_ref().map(|_| ()).ok_or_else(not_json))?;
        Some((reply, doc?))
    }

    async fn read_json(&self, call: &Call, check: impl FnOnce(&Value) -> Verdict) {
        if let Some((reply, doc)) = self.expect_json(call, 200).await {
            self.judge(call, Some(&reply), check(&doc));
        }
    }

    /// Records a finding with who asked what, and the server's request id
    /// to find it in the server's logs; `None` when there was one, so that a
    /// step can stop there with `?`.
    fn judge(&self, call: &Call, reply: Option<&Reply>, verdict: Verdict) -> Option<()> {
        let Err(finding) = verdict else { return Some(()) };
        let request = reply.and_then(|reply| reply.header("x-request-id")).unwrap_or("-");
        let context = format!("user {} {} {} (request {request})", self.index, call.method, call.path);
        self.run.recorder.finding(&context, finding);
        None
    }
}

fn not_json() -> Finding {
    Finding::error("unexpected_body", "the answer is not JSON")
}
