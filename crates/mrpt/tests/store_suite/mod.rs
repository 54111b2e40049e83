//! The behaviour every state store must have, written once and run against
//! each implementation by `store_suite!`.
#![allow(dead_code)]

use mrpt::domain::{Millis, UserId, Username};
use mrpt::principal::Principal;
use mrpt::store::{LoginAttempt, NewOwned, OwnedKind, SecurityEvent, SessionKey, SessionRecord, SharedStateStore, StoreError, UserRecord};
use mrpt::token::SessionToken;
use rand::Rng;
use std::time::Duration;

/// What `store_suite!`'s `$make` gives: the store, inside anything that
/// must live as long as the test (such as a guard that removes its keys).
pub trait Fixture {
    fn store(&self) -> SharedStateStore;
}

impl Fixture for SharedStateStore {
    fn store(&self) -> SharedStateStore {
        self.clone()
    }
}

pub async fn user(store: &SharedStateStore, name: &str) -> UserRecord {
    let user = UserRecord {
        id: UserId::random(),
        username: Username::parse(name).unwrap(),
        password_hash: "$argon2id$stand-in".into(),
        created_at: Millis::now(),
    };
    store.create_user(&user).await.unwrap();
    user
}

pub async fn session(store: &SharedStateStore, user: &UserRecord, idle: Duration) -> (SessionRecord, SessionToken) {
    let token = SessionToken::issue(user.id);
    let record = SessionRecord::start(&token, idle, Duration::from_secs(3600));
    store.create_session(&record, &user.password_hash).await.unwrap();
    (record, token)
}

fn principal(session: &SessionRecord) -> Principal {
    Principal::from_session(session, "test".into())
}

fn owned<'a>(kind: OwnedKind, id: &str, parent: Option<&str>, at: i64, body: &'a [u8]) -> NewOwned<'a> {
    NewOwned { kind, id: id.into(), parent: parent.map(Into::into), created_at: Millis(at), body }
}

pub async fn users_have_unique_names(store: SharedStateStore) {
    let amina = user(&store, "amina").await;
    let clash = UserRecord { id: UserId::random(), ..amina.clone() };
    assert!(matches!(store.create_user(&clash).await, Err(StoreError::UsernameTaken)));
    let found = store.find_user_by_name(&Username::parse("amina").unwrap()).await.unwrap().unwrap();
    assert_eq!(found.id, amina.id);
    assert_eq!(store.get_user(amina.id).await.unwrap().unwrap().username, amina.username);
    assert!(store.get_user(UserId::random()).await.unwrap().is_none());
}

pub async fn sessions_slide_end_and_never_revive(store: SharedStateStore) {
    let amina = user(&store, "amina").await;
    let (record, token) = session(&store, &amina, Duration::from_secs(60)).await;
    let loaded = store.session_by_token(token.key()).await.unwrap().unwrap();
    assert_eq!(loaded.id, record.id);
    assert_eq!(loaded.user_id, amina.id);
    let elsewhere = SessionKey { user_id: UserId::random(), token_hash: token.hash() };
    assert!(store.session_by_token(elsewhere).await.unwrap().is_none(), "a session is found only with its user");

    let later = Millis(record.created_at.0 + 1000);
    assert!(store.touch_session(token.key(), later, later.plus(Duration::from_secs(60))).await.unwrap());
    let touched = store.session_by_token(token.key()).await.unwrap().unwrap();
    assert_eq!(touched.last_seen_at, later);
    assert_eq!(touched.idle_expires_at, later.plus(Duration::from_secs(60)));

    let ended = store.end_session_by_token(token.key()).await.unwrap().unwrap();
    assert_eq!(ended.id, record.id);
    assert!(store.end_session_by_token(token.key()).await.unwrap().is_none());
    // A request that was in flight cannot write the session back.
    assert!(!store.touch_session(token.key(), later, later.plus(Duration::from_secs(60))).await.unwrap());
    assert!(!store.note_session_expired(token.key()).await.unwrap());
    assert!(!store.end_session_by_id(amina.id, record.id).await.unwrap());
    assert!(store.session_by_token(token.key()).await.unwrap().is_none());
    assert!(store.live_sessions(amina.id, Millis::now()).await.unwrap().is_empty());
}

pub async fn timed_out_sessions_are_kept_but_not_live(store: SharedStateStore) {
    let amina = user(&store, "amina").await;
    let (record, token) = session(&store, &amina, Duration::from_millis(1)).await;
    tokio::time::sleep(Duration::from_millis(20)).await;
    let now = Millis::now();
    let loaded = store.session_by_token(token.key()).await.unwrap().unwrap();
    assert!(loaded.is_expired_at(now));
    assert!(!store.touch_session(token.key(), now, now.plus(Duration::from_secs(60))).await.unwrap());
    assert!(store.session_by_token(token.key()).await.unwrap().unwrap().is_expired_at(Millis::now()));
    assert!(store.live_sessions(amina.id, now).await.unwrap().is_empty());
    assert!(store.note_session_expired(token.key()).await.unwrap());
    assert!(!store.note_session_expired(token.key()).await.unwrap());
    assert!(!store.end_session_by_id(amina.id, record.id).await.unwrap(), "a timed-out session is not live");
}

pub async fn sessions_are_listed_and_revoked_per_user(store: SharedStateStore) {
    let amina = user(&store, "amina").await;
    let musa = user(&store, "musa").await;
    let (first, _) = session(&store, &amina, Duration::from_secs(60)).await;
    let (second, second_token) = session(&store, &amina, Duration::from_secs(60)).await;
    let (musas, musas_token) = session(&store, &musa, Duration::from_secs(60)).await;

    let live = store.live_sessions(amina.id, Millis::now()).await.unwrap();
    assert_eq!(live.iter().map(|s| s.id).collect::<Vec<_>>(), vec![second.id, first.id], "newest first");
    assert!(!store.end_session_by_id(amina.id, musas.id).await.unwrap(), "not amina's");
    assert!(store.session_by_token(musas_token.key()).await.unwrap().is_some());
    assert!(store.end_session_by_id(amina.id, second.id).await.unwrap());
    assert!(store.session_by_token(second_token.key()).await.unwrap().is_none());

    session(&store, &amina, Duration::from_secs(60)).await;
    assert_eq!(store.end_user_sessions(amina.id, Some(first.id)).await.unwrap(), 1);
    assert_eq!(store.live_sessions(amina.id, Millis::now()).await.unwrap().len(), 1);
    assert_eq!(store.end_user_sessions(amina.id, None).await.unwrap(), 1);
    assert!(store.live_sessions(amina.id, Millis::now()).await.unwrap().is_empty());
    assert_eq!(store.live_sessions(musa.id, Millis::now()).await.unwrap().len(), 1);
}

pub async fn a_login_checked_against_a_changed_password_starts_no_session(store: SharedStateStore) {
    let amina = user(&store, "amina").await;
    let (keep, _) = session(&store, &amina, Duration::from_secs(60)).await;
    store.change_password(amina.id, "$argon2id$new", keep.id).await.unwrap();
    let token = SessionToken::issue(amina.id);
    let late = SessionRecord::start(&token, Duration::from_secs(60), Duration::from_secs(3600));
    let refused = store.create_session(&late, &amina.password_hash).await;
    assert!(matches!(refused, Err(StoreError::CredentialChanged)), "{refused:?}");
    assert!(store.session_by_token(token.key()).await.unwrap().is_none());
    store.create_session(&late, "$argon2id$new").await.unwrap();
    assert!(store.session_by_token(token.key()).await.unwrap().is_some());
}

pub async fn password_change_keeps_only_the_current_session(store: SharedStateStore) {
    let amina = user(&store, "amina").await;
    let (keep, keep_token) = session(&store, &amina, Duration::from_secs(60)).await;
    let (_, other_token) = session(&store, &amina, Duration::from_secs(60)).await;
    assert_eq!(store.change_password(amina.id, "$argon2id$new", keep.id).await.unwrap(), 1);
    assert_eq!(store.get_user(amina.id).await.unwrap().unwrap().password_hash, "$argon2id$new");
    assert!(store.session_by_token(keep_token.key()).await.unwrap().is_some());
    assert!(store.session_by_token(other_token.key()).await.unwrap().is_none());
}

pub async fn login_attempts_are_counted_per_username_up_to_the_limit(store: SharedStateStore) {
    let amina = Username::parse("amina").unwrap();
    let musa = Username::parse("musa").unwrap();
    let now = Millis::now().0;
    let count = |name: &Username, at: i64, since: i64| {
        let (store, name) = (store.clone(), name.clone());
        async move { store.count_login_attempt(&name, Millis(at), Millis(since), 3).await.unwrap() }
    };
    // An attempt before the window does not count against it.
    assert_eq!(count(&amina, now - 5000, now - 5000).await, LoginAttempt::Counted);
    for at in [now - 3000, now - 2000, now - 1000] {
        assert_eq!(count(&amina, at, now - 4000).await, LoginAttempt::Counted);
    }
    // The fourth in the window is refused, not recorded, and names the
    // attempt whose leaving the window reopens logins.
    assert_eq!(count(&amina, now, now - 4000).await, LoginAttempt::Refused { oldest: Millis(now - 3000) });
    assert_eq!(count(&amina, now, now - 4000).await, LoginAttempt::Refused { oldest: Millis(now - 3000) });
    assert_eq!(count(&amina, now, now - 2500).await, LoginAttempt::Counted, "two in the shorter window");
    assert_eq!(count(&musa, now, now - 4000).await, LoginAttempt::Counted, "per username");
    store.clear_login_failures(&amina).await.unwrap();
    assert_eq!(count(&amina, now, now - 4000).await, LoginAttempt::Counted);
}

pub async fn counters_count_per_name_and_window(store: SharedStateStore) {
    let now = Millis::now();
    let (minute, next) = (Millis(now.0 + 60_000), Millis(now.0 + 120_000));
    for expected in 1..=3 {
        assert_eq!(store.increment_counter("login:10.0.0.1", now, minute).await.unwrap(), expected);
    }
    assert_eq!(store.increment_counter("login:10.0.0.2", now, minute).await.unwrap(), 1, "per name");
    assert_eq!(store.increment_counter("registration:10.0.0.1", now, minute).await.unwrap(), 1, "per name");
    assert_eq!(store.increment_counter("login:10.0.0.1", now, next).await.unwrap(), 1, "a new window starts at one");
    let counts = (0..40).map(|_| {
        let store = store.clone();
        async move { store.increment_counter("login:10.0.0.3", now, minute).await.unwrap() }
    });
    let mut counts = futures::future::join_all(counts).await;
    counts.sort_unstable();
    assert_eq!(counts, (1..=40).collect::<Vec<u64>>(), "parallel increments are each counted once");
}

pub async fn parallel_login_attempts_never_pass_the_limit(store: SharedStateStore) {
    let amina = Username::parse("amina").unwrap();
    let now = Millis::now();
    let attempts = (0..50).map(|_| {
        let (store, amina) = (store.clone(), amina.clone());
        async move { store.count_login_attempt(&amina, now, Millis(now.0 - 1000), 5).await.unwrap() }
    });
    let answers = futures::future::join_all(attempts).await;
    assert_eq!(answers.iter().filter(|answer| **answer == LoginAttempt::Counted).count(), 5);
}

pub async fn owned_records_stay_in_their_owners_namespace(store: SharedStateStore) {
    let amina = user(&store, "amina").await;
    let musa = user(&store, "musa").await;
    let (amina_session, _) = session(&store, &amina, Duration::from_secs(60)).await;
    let (musa_session, _) = session(&store, &musa, Duration::from_secs(60)).await;
    let (amina_p, musa_p) = (principal(&amina_session), principal(&musa_session));

    store.insert_owned(&amina_p, owned(OwnedKind::Dataset, "d1", None, 1, b"one")).await.unwrap();
    store.insert_owned(&amina_p, owned(OwnedKind::Dataset, "d2", None, 2, b"two")).await.unwrap();
    store.insert_owned(&amina_p, owned(OwnedKind::Analysis, "a1", Some("d1"), 3, b"analysis")).await.unwrap();
    store.insert_owned(&amina_p, owned(OwnedKind::ItnPlan, "p1", Some("a1"), 4, b"plan")).await.unwrap();
    store.insert_owned(&musa_p, owned(OwnedKind::Dataset, "m1", None, 5, b"musa")).await.unwrap();

    assert_eq!(store.get_owned(&amina_p, OwnedKind::Dataset, "d1").await.unwrap().as_deref(), Some(&b"one"[..]));
    assert_eq!(store.get_owned(&musa_p, OwnedKind::Dataset, "d1").await.unwrap(), None);
    assert_eq!(store.get_owned(&amina_p, OwnedKind::Analysis, "d1").await.unwrap(), None, "kinds are apart");
    assert_eq!(store.list_owned(&amina_p, OwnedKind::Dataset).await.unwrap(), vec![b"two".to_vec(), b"one".to_vec()]);
    assert_eq!(store.list_owned(&musa_p, OwnedKind::Dataset).await.unwrap(), vec![b"musa".to_vec()]);

    assert!(!store.delete_owned(&musa_p, OwnedKind::Dataset, "d1").await.unwrap());
    assert!(store.delete_owned(&amina_p, OwnedKind::Dataset, "d1").await.unwrap());
    assert_eq!(store.get_owned(&amina_p, OwnedKind::Analysis, "a1").await.unwrap(), None, "children go too");
    assert_eq!(store.get_owned(&amina_p, OwnedKind::ItnPlan, "p1").await.unwrap(), None, "grandchildren too");
    assert_eq!(store.list_owned(&amina_p, OwnedKind::Dataset).await.unwrap(), vec![b"two".to_vec()]);
    assert_eq!(store.list_owned(&musa_p, OwnedKind::Dataset).await.unwrap().len(), 1);
}

/// The race of an analysis finishing while its dataset is deleted, made
/// deterministic: the parent goes between the child's file write and its
/// insert, and the insert must refuse.
pub async fn a_record_whose_parent_is_gone_is_not_inserted(store: SharedStateStore) {
    let amina = user(&store, "amina").await;
    let musa = user(&store, "musa").await;
    let (amina_session, _) = session(&store, &amina, Duration::from_secs(60)).await;
    let (musa_session, _) = session(&store, &musa, Duration::from_secs(60)).await;
    let (amina_p, musa_p) = (principal(&amina_session), principal(&musa_session));
    store.insert_owned(&amina_p, owned(OwnedKind::Dataset, "d1", None, 1, b"dataset")).await.unwrap();
    store.insert_owned(&amina_p, owned(OwnedKind::Analysis, "a1", Some("d1"), 2, b"analysis")).await.unwrap();

    let another_users = store.insert_owned(&musa_p, owned(OwnedKind::Analysis, "m1", Some("d1"), 3, b"x")).await;
    assert!(matches!(another_users, Err(StoreError::ParentGone)), "another user's dataset is no parent: {another_users:?}");
    let wrong_kind = store.insert_owned(&amina_p, owned(OwnedKind::ItnPlan, "p0", Some("d1"), 3, b"x")).await;
    assert!(matches!(wrong_kind, Err(StoreError::ParentGone)), "a plan belongs to an analysis: {wrong_kind:?}");

    assert!(store.delete_owned(&amina_p, OwnedKind::Dataset, "d1").await.unwrap());
    let late_analysis = store.insert_owned(&amina_p, owned(OwnedKind::Analysis, "a2", Some("d1"), 4, b"late")).await;
    assert!(matches!(late_analysis, Err(StoreError::ParentGone)), "{late_analysis:?}");
    let late_plan = store.insert_owned(&amina_p, owned(OwnedKind::ItnPlan, "p1", Some("a1"), 5, b"late")).await;
    assert!(matches!(late_plan, Err(StoreError::ParentGone)), "{late_plan:?}");
    assert!(store.list_owned(&amina_p, OwnedKind::Analysis).await.unwrap().is_empty());
    assert!(store.list_owned(&amina_p, OwnedKind::ItnPlan).await.unwrap().is_empty());
    assert!(store.list_owned(&musa_p, OwnedKind::Analysis).await.unwrap().is_empty());
}

pub async fn a_lease_has_one_holder_until_it_runs_out(store: SharedStateStore) {
    let name = format!("sweep-{}", rand::thread_rng().gen::<u32>());
    let now = Millis::now();
    let until = Millis(now.0 + 300);
    assert!(store.try_lease(&name, "a", now, until).await.unwrap());
    assert!(!store.try_lease(&name, "b", now, until).await.unwrap(), "held by a");
    assert!(!store.try_lease(&name, "a", now, until).await.unwrap(), "not taken twice in one period, even by its holder");
    tokio::time::sleep(Duration::from_millis(400)).await;
    let later = Millis::now();
    assert!(store.try_lease(&name, "b", later, Millis(later.0 + 300)).await.unwrap(), "free once it ran out");
}

pub async fn records_are_replaced_only_from_what_they_were(store: SharedStateStore) {
    let amina = user(&store, "amina").await;
    let musa = user(&store, "musa").await;
    let (amina_session, _) = session(&store, &amina, Duration::from_secs(60)).await;
    let (musa_session, _) = session(&store, &musa, Duration::from_secs(60)).await;
    let (amina_p, musa_p) = (principal(&amina_session), principal(&musa_session));
    store.insert_owned(&amina_p, owned(OwnedKind::Upload, "u1", None, 1, b"offset 0")).await.unwrap();

    assert!(!store.replace_owned(&musa_p, OwnedKind::Upload, "u1", b"offset 0", b"musa").await.unwrap());
    assert!(!store.replace_owned(&amina_p, OwnedKind::Upload, "u1", b"offset 9", b"x").await.unwrap());
    assert!(!store.replace_owned(&amina_p, OwnedKind::Dataset, "u1", b"offset 0", b"x").await.unwrap());
    assert!(!store.replace_owned(&amina_p, OwnedKind::Upload, "none", b"offset 0", b"x").await.unwrap(), "never creates");

    // Writers racing from the same body: exactly one wins.
    let racers = (0..8).map(|n| {
        let (store, amina_p) = (store.clone(), amina_p.clone());
        tokio::spawn(async move {
            let body = format!("offset {n}00");
            store.replace_owned(&amina_p, OwnedKind::Upload, "u1", b"offset 0", body.as_bytes()).await.unwrap()
        })
    });
    let won = futures::future::join_all(racers).await.into_iter().filter(|won| *won.as_ref().unwrap()).count();
    assert_eq!(won, 1);
    let stored = store.get_owned(&amina_p, OwnedKind::Upload, "u1").await.unwrap().unwrap();
    assert!(stored.starts_with(b"offset ") && stored.ends_with(b"00"), "the winner's body is kept");
    assert_eq!(store.get_owned(&musa_p, OwnedKind::Upload, "u1").await.unwrap(), None);
}

pub async fn a_session_and_a_record_come_in_one_call(store: SharedStateStore) {
    let amina = user(&store, "amina").await;
    let musa = user(&store, "musa").await;
    let (amina_session, amina_token) = session(&store, &amina, Duration::from_secs(60)).await;
    let (musa_session, musa_token) = session(&store, &musa, Duration::from_secs(60)).await;
    store.insert_owned(&principal(&amina_session), owned(OwnedKind::Dataset, "d1", None, 1, b"one")).await.unwrap();
    store.insert_owned(&principal(&musa_session), owned(OwnedKind::Dataset, "m1", None, 1, b"musa")).await.unwrap();

    let found = store.session_with_owned(amina_token.key(), OwnedKind::Dataset, "d1").await.unwrap().unwrap();
    assert_eq!((found.session.id, found.session.user_id), (amina_session.id, amina.id));
    assert_eq!(found.body.as_deref(), Some(&b"one"[..]));
    let missing = store.session_with_owned(amina_token.key(), OwnedKind::Analysis, "d1").await.unwrap().unwrap();
    assert_eq!(missing.body, None, "kinds are apart");
    let foreign = store.session_with_owned(amina_token.key(), OwnedKind::Dataset, "m1").await.unwrap().unwrap();
    assert_eq!(foreign.body, None, "another user's record is not in this user's namespace");
    let forged = SessionKey { user_id: musa.id, token_hash: amina_token.hash() };
    assert!(store.session_with_owned(forged, OwnedKind::Dataset, "m1").await.unwrap().is_none(), "no session, no record");

    store.end_session_by_token(musa_token.key()).await.unwrap();
    assert!(store.session_with_owned(musa_token.key(), OwnedKind::Dataset, "m1").await.unwrap().is_none());
}

pub async fn users_are_listed_by_name(store: SharedStateStore) {
    let musa = user(&store, "musa").await;
    let amina = user(&store, "amina").await;
    let names = |users: Vec<UserRecord>| users.into_iter().map(|u| (u.id, u.username.to_string())).collect::<Vec<_>>();
    assert_eq!(
        names(store.list_users().await.unwrap()),
        [(amina.id, "amina".to_owned()), (musa.id, "musa".to_owned())]
    );
    store.delete_user(musa.id).await.unwrap();
    assert_eq!(names(store.list_users().await.unwrap()), [(amina.id, "amina".to_owned())]);
}

pub async fn an_ended_session_cannot_write(store: SharedStateStore) {
    let amina = user(&store, "amina").await;
    let (record, token) = session(&store, &amina, Duration::from_secs(60)).await;
    store.end_session_by_token(token.key()).await.unwrap();
    let result = store.insert_owned(&principal(&record), owned(OwnedKind::Dataset, "late", None, 1, b"x")).await;
    assert!(matches!(result, Err(StoreError::SessionEnded)));
    let (fresh, _) = session(&store, &amina, Duration::from_secs(60)).await;
    assert!(store.list_owned(&principal(&fresh), OwnedKind::Dataset).await.unwrap().is_empty());
}

pub async fn deleting_a_user_deletes_everything_of_theirs(store: SharedStateStore) {
    let amina = user(&store, "amina").await;
    let musa = user(&store, "musa").await;
    let (amina_session, amina_token) = session(&store, &amina, Duration::from_secs(60)).await;
    let (musa_session, _) = session(&store, &musa, Duration::from_secs(60)).await;
    store.insert_owned(&principal(&amina_session), owned(OwnedKind::Dataset, "d1", None, 1, b"a")).await.unwrap();
    store.insert_owned(&principal(&musa_session), owned(OwnedKind::Dataset, "m1", None, 1, b"m")).await.unwrap();
    let now = Millis::now();
    let counted = store.count_login_attempt(&amina.username, now, now, 1).await.unwrap();
    assert_eq!(counted, LoginAttempt::Counted);

    store.delete_user(amina.id).await.unwrap();
    assert!(store.get_user(amina.id).await.unwrap().is_none());
    assert!(store.session_by_token(amina_token.key()).await.unwrap().is_none());
    assert!(store.get_owned(&principal(&amina_session), OwnedKind::Dataset, "d1").await.unwrap().is_none());
    let after = store.count_login_attempt(&amina.username, now, now, 1).await.unwrap();
    assert_eq!(after, LoginAttempt::Counted, "the attempts went with the user");
    assert_eq!(store.list_owned(&principal(&musa_session), OwnedKind::Dataset).await.unwrap().len(), 1);
}

pub async fn concurrent_writes_of_one_session_are_all_kept(store: SharedStateStore) {
    let amina = user(&store, "amina").await;
    let (record, token) = session(&store, &amina, Duration::from_secs(60)).await;
    let writes = (0..50).map(|i| {
        let (store, principal) = (store.clone(), principal(&record));
        tokio::spawn(async move {
            let id = format!("d{i}");
            store.insert_owned(&principal, owned(OwnedKind::Dataset, &id, None, i, id.as_bytes())).await.unwrap();
            let now = Millis::now();
            let key = principal_session_key(&store, &principal).await;
            store.touch_session(key, now, now.plus(Duration::from_secs(60))).await.unwrap();
        })
    });
    for write in futures::future::join_all(writes).await {
        write.unwrap();
    }
    assert_eq!(store.list_owned(&principal(&record), OwnedKind::Dataset).await.unwrap().len(), 50);
    assert!(store.session_by_token(token.key()).await.unwrap().is_some());
}

async fn principal_session_key(store: &SharedStateStore, principal: &Principal) -> mrpt::store::SessionKey {
    let sessions = store.live_sessions(principal.user_id(), Millis::now()).await.unwrap();
    sessions.into_iter().find(|s| s.id == principal.session_id()).unwrap().key()
}

pub async fn security_events_are_kept_in_order(store: SharedStateStore) {
    for (at, kind) in [(1000, "csrf_refused"), (2000, "forged_token"), (3000, "isolation_violation")] {
        let event = SecurityEvent {
            at: Millis(at),
            kind: kind.into(),
            user_id: Some(UserId::random()),
            session_id: None,
            request_id: Some("r".into()),
            detail: "d".into(),
        };
        store.record_event(&event).await.unwrap();
    }
    let events = store.events_since(Millis(2000)).await.unwrap();
    assert_eq!(events.iter().map(|e| e.kind.as_str()).collect::<Vec<_>>(), vec!["forged_token", "isolation_violation"]);
}

pub async fn a_name_is_registered_once_under_contention(store: SharedStateStore) {
    let attempts = (0..16).map(|_| {
        let store = store.clone();
        tokio::spawn(async move {
            let user = UserRecord {
                id: UserId::random(),
                username: Username::parse("amina").unwrap(),
                password_hash: "$argon2id$stand-in".into(),
                created_at: Millis::now(),
            };
            (user.id, store.create_user(&user).await)
        })
    });
    let mut winners = Vec::new();
    for attempt in futures::future::join_all(attempts).await {
        match attempt.unwrap() {
            (id, Ok(())) => winners.push(id),
            (_, Err(StoreError::UsernameTaken)) => {}
            (_, Err(err)) => panic!("unexpected error {err}"),
        }
    }
    assert_eq!(winners.len(), 1, "exactly one registration wins");
    let found = store.find_user_by_name(&Username::parse("amina").unwrap()).await.unwrap().unwrap();
    assert_eq!(found.id, winners[0]);
}

pub async fn a_deleted_users_name_is_free_again(store: SharedStateStore) {
    let amina = user(&store, "amina").await;
    store.delete_user(amina.id).await.unwrap();
    assert!(store.find_user_by_name(&amina.username).await.unwrap().is_none());
    let again = user(&store, "amina").await;
    assert_eq!(store.find_user_by_name(&amina.username).await.unwrap().unwrap().id, again.id);
}

/// Thousands of reads by two users on one store, half of them dropped at a
/// random point (before, while or after their request is sent): every read
/// that completes answers with the asking user's data and nobody else's.
/// How a request of the cancellation test is cut off.
enum Cancel {
    AtFirstPause,
    After(Duration),
}

pub async fn cancelled_requests_never_see_another_users_data(store: SharedStateStore) {
    const DATASETS: i64 = 4;
    let mut people = Vec::new();
    for name in ["amina", "musa"] {
        let user = user(&store, name).await;
        let (record, token) = session(&store, &user, Duration::from_secs(3600)).await;
        for i in 0..DATASETS {
            let body = format!("dataset {i} of {}", user.id);
            let new = owned(OwnedKind::Dataset, &format!("{}-{i}", user.id), None, i, body.as_bytes());
            store.insert_owned(&principal(&record), new).await.unwrap();
        }
        people.push((user, record, token));
    }
    let people = std::sync::Arc::new(people);
    let mut rng = rand::thread_rng();
    let requests = (0..4000usize).map(|n| {
        let (store, people) = (store.clone(), people.clone());
        // Operation, user and cancelling vary independently over every 16 requests.
        // One in 16 is dropped at its first pause, so that some are always
        // cancelled half-way however fast the store answers.
        let cancel = (n / 8 % 2 == 0).then(|| match n % 16 {
            0 => Cancel::AtFirstPause,
            _ => Cancel::After(Duration::from_micros(rng.gen_range(0..2000))),
        });
        let i = rng.gen_range(0..DATASETS);
        async move {
            let (user, record, token) = &people[n / 4 % 2];
            let principal = principal(record);
            let read = async {
                match n % 4 {
                    0 => {
                        let found = store.session_by_token(token.key()).await.unwrap().unwrap();
                        assert_eq!((found.user_id, found.id), (user.id, record.id), "a session of its own user");
                    }
                    1 => {
                        let id = format!("{}-{i}", user.id);
                        let found = store.session_with_owned(token.key(), OwnedKind::Dataset, &id).await.unwrap().unwrap();
                        assert_eq!((found.session.user_id, found.session.id), (user.id, record.id));
                        assert_eq!(found.body.unwrap(), format!("dataset {i} of {}", user.id).into_bytes());
                    }
                    2 => {
                        let body = store.get_owned(&principal, OwnedKind::Dataset, &format!("{}-{i}", user.id)).await;
                        assert_eq!(body.unwrap().unwrap(), format!("dataset {i} of {}", user.id).into_bytes());
                    }
                    _ => {
                        let bodies = store.list_owned(&principal, OwnedKind::Dataset).await.unwrap();
                        assert_eq!(bodies.len() as i64, DATASETS);
                        let suffix = format!(" of {}", user.id);
                        assert!(bodies.iter().all(|body| body.ends_with(suffix.as_bytes())), "only its own datasets");
                    }
                }
            };
            match cancel {
                Some(Cancel::AtFirstPause) => futures::FutureExt::now_or_never(read).is_some(),
                Some(Cancel::After(after)) => tokio::time::timeout(after, read).await.is_ok(),
                None => {
                    read.await;
                    true
                }
            }
        }
    });
    use futures::StreamExt;
    let finished: Vec<bool> = futures::stream::iter(requests).buffer_unordered(64).collect().await;
    let cancelled = finished.iter().filter(|done| !**done).count();
    assert!(cancelled > 0, "some requests were cancelled half-way");
    assert!(finished.len() - cancelled >= 2000, "every request that was not cancelled finished");
    // The store still answers each user with their own data afterwards.
    for (user, record, token) in people.iter() {
        assert_eq!(store.session_by_token(token.key()).await.unwrap().unwrap().user_id, user.id);
        assert_eq!(store.list_owned(&principal(record), OwnedKind::Dataset).await.unwrap().len() as i64, DATASETS);
    }
}

/// Generates one `#[tokio::test]` per behaviour above for a store made by
/// `$make` (an async expression giving a [`Fixture`] around a fresh, empty
/// store).
#[macro_export]
macro_rules! store_suite {
    ($make:expr) => {
        $crate::store_suite!(@tests $make;
            users_have_unique_names,
            sessions_slide_end_and_never_revive,
            timed_out_sessions_are_kept_but_not_live,
            sessions_are_listed_and_revoked_per_user,
            password_change_keeps_only_the_current_session,
            a_login_checked_against_a_changed_password_starts_no_session,
            login_attempts_are_counted_per_username_up_to_the_limit,
            parallel_login_attempts_never_pass_the_limit,
            counters_count_per_name_and_window,
            owned_records_stay_in_their_owners_namespace,
            records_are_replaced_only_from_what_they_were,
            a_record_whose_parent_is_gone_is_not_inserted,
            a_lease_has_one_holder_until_it_runs_out,
            a_session_and_a_record_come_in_one_call,
            users_are_listed_by_name,
            an_ended_session_cannot_write,
            deleting_a_user_deletes_everything_of_theirs,
            concurrent_writes_of_one_session_are_all_kept,
            security_events_are_kept_in_order,
            a_name_is_registered_once_under_contention,
            a_deleted_users_name_is_free_again,
            cancelled_requests_never_see_another_users_data);
    };
    (@tests $make:expr; $($name:ident),*) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                let fixture = $make.await;
                store_suite::$name(store_suite::Fixture::store(&fixture)).await;
            }
        )*
    };
}
