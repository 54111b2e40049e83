//! Bounded pools for expensive CPU work (parsing uploads, analyses, plans,
//! maps) and for password hashing: a fixed number of threads, a bounded
//! queue in front of them (503 `busy` when full) and, for the work pool, a
//! share per user (429 `too_many_requests` beyond it). Cheap requests never
//! enter a pool, so reads never wait behind expensive work.

use crate::domain::UserId;
use crate::error::ApiError;
use clap::Args;
use serde::Serialize;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// What a refused client is told to wait: pooled jobs take from milliseconds
/// to a few seconds, so a queue place is soon free again.
const RETRY_AFTER_SECS: u64 = 2;

#[derive(Debug, Clone, Args, Serialize)]
pub struct WorkConfig {
    /// Threads for expensive work: parsing uploads, analyses, plans and maps
    /// (default: the number of cores).
    #[arg(long, env = "MRPT_WORK_THREADS", value_parser = clap::value_parser!(u16).range(1..))]
    pub work_threads: Option<u16>,

    /// Expensive requests that may wait for a thread; beyond them, 503 busy.
    #[arg(long, env = "MRPT_WORK_QUEUE", default_value_t = 32)]
    pub work_queue: u16,

    /// Expensive requests one user may have running or waiting at once;
    /// beyond them, 429 too_many_requests (default: half the work threads,
    /// at least 1).
    #[arg(long, env = "MRPT_WORK_SHARE", value_parser = clap::value_parser!(u16).range(1..))]
    pub work_share: Option<u16>,

    /// Threads hashing passwords, 19 MiB of memory each (default: the number
    /// of cores).
    #[arg(long, env = "MRPT_HASH_THREADS", value_parser = clap::value_parser!(u16).range(1..))]
    pub hash_threads: Option<u16>,

    /// Password hashes (register, login, password change, account deletion)
    /// that may wait for a thread; beyond them, 503 busy. The default lets a
    /// room of 30 people log in at the same moment.
    #[arg(long, env = "MRPT_HASH_QUEUE", default_value_t = 64)]
    pub hash_queue: u16,
}

impl WorkConfig {
    pub fn work_pool(&self) -> WorkPool {
        let threads = self.work_threads.map_or_else(cores, usize::from);
        let share = self.work_share.map_or((threads / 2).max(1), usize::from);
        WorkPool::new(BoundedPool::new("work", threads, self.work_queue.into()), share)
    }

    pub fn hash_pool(&self) -> BoundedPool {
        BoundedPool::new("hash", self.hash_threads.map_or_else(cores, usize::from), self.hash_queue.into())
    }
}

fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// A fixed number of threads with a bounded queue in front of them.
#[derive(Clone)]
pub struct BoundedPool {
    name: &'static str,
    threads: Arc<Semaphore>,
    /// Threads plus queue: a request holds a place from admission until its
    /// job ends.
    places: Arc<Semaphore>,
}

impl BoundedPool {
    pub fn new(name: &'static str, threads: usize, queue: usize) -> Self {
        Self { name, threads: Arc::new(Semaphore::new(threads)), places: Arc::new(Semaphore::new(threads + queue)) }
    }

    /// A place in the pool, or 503 `busy` when every thread is taken and the
    /// queue is full.
    pub fn admit(&self) -> Result<Admission, ApiError> {
        let permit = self.places.clone().try_acquire_owned().map_err(|_| {
            metrics::counter!("mrpt_work_refused_total", "pool" => self.name, "reason" => "busy").increment(1);
            ApiError::Busy { retry_after_secs: RETRY_AFTER_SECS }
        })?;
        metrics::gauge!("mrpt_work_in_flight", "pool" => self.name).increment(1);
        let place = Place { _permit: permit, pool: self.name };
        Ok(Admission { threads: self.threads.clone(), _place: Arc::new(place), _share: None })
    }
}

/// A taken place, counted in `mrpt_work_in_flight` while it is held.
struct Place {
    _permit: OwnedSemaphorePermit,
    pool: &'static str,
}

impl Drop for Place {
    fn drop(&mut self) {
        metrics::gauge!("mrpt_work_in_flight", "pool" => self.pool).decrement(1);
    }
}

/// A request's place in a pool; every job it runs takes one of the pool's
/// threads. Clones share the place, which is freed when the last one goes.
#[derive(Clone)]
pub struct Admission {
    threads: Arc<Semaphore>,
    _place: Arc<Place>,
    _share: Option<Arc<UserShare>>,
}

impl Admission {
    /// Runs `job` on a blocking thread once one of the pool's threads is
    /// free. The thread and the place stay taken until the job ends, even
    /// when the request that asked for it has gone away meanwhile.
    pub async fn run<T: Send + 'static>(&self, job: impl FnOnce() -> T + Send + 'static) -> Result<T, ApiError> {
        let thread = self.threads.clone().acquire_owned().await.map_err(|_| ApiError::Internal)?;
        let held = self.clone();
        tokio::task::spawn_blocking(move || {
            let _taken = (thread, held);
            job()
        })
        .await
        .map_err(|_| ApiError::Internal)
    }
}

/// The pool for expensive work, with a share per user.
///
/// The shares are counted per worker process: they are counters of work in
/// flight in this process, not user data, so a worker stays state-free in
/// the sense of DESIGN.md rule 1, and a restarted worker starts from zero
/// because its work in flight died with it.
#[derive(Clone)]
pub struct WorkPool {
    pool: BoundedPool,
    share: usize,
    in_flight: Arc<Mutex<HashMap<UserId, usize>>>,
}

impl WorkPool {
    pub fn new(pool: BoundedPool, share: usize) -> Self {
        Self { pool, share, in_flight: Arc::default() }
    }

    /// A place for one expensive request of `user`: 429
    /// `too_many_requests` when the user already has their share in
    /// flight, 503 `busy` when the pool's queue is full.
    pub fn admit(&self, user: UserId) -> Result<Admission, ApiError> {
        let share = UserShare::take(&self.in_flight, user, self.share).ok_or_else(|| {
            metrics::counter!("mrpt_work_refused_total", "pool" => self.pool.name, "reason" => "share").increment(1);
            ApiError::TooManyRequests { retry_after_secs: RETRY_AFTER_SECS }
        })?;
        let mut admission = self.pool.admit()?;
        admission._share = Some(Arc::new(share));
        Ok(admission)
    }
}

/// One unit of a user's share, given back when dropped.
struct UserShare {
    in_flight: Arc<Mutex<HashMap<UserId, usize>>>,
    user: UserId,
}

impl UserShare {
    fn take(in_flight: &Arc<Mutex<HashMap<UserId, usize>>>, user: UserId, share: usize) -> Option<Self> {
        let mut counts = in_flight.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let count = counts.entry(user).or_default();
        if *count >= share {
            return None;
        }
        *count += 1;
        Some(Self { in_flight: in_flight.clone(), user })
    }
}

impl Drop for UserShare {
    fn drop(&mut self) {
        let mut counts = self.in_flight.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(count) = counts.get_mut(&self.user) {
            *count -= 1;
            if *count == 0 {
                counts.remove(&self.user);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(result: Result<Admission, ApiError>) -> &'static str {
        result.err().map_or("admitted", |err| err.code())
    }

    #[test]
    fn a_full_queue_is_busy_and_frees_its_places() {
        let pool = BoundedPool::new("test", 1, 1);
        let first = pool.admit().expect("a thread is free");
        let second = pool.admit().expect("the queue has a place");
        assert_eq!(code(pool.admit()), "busy");
        drop(first);
        assert_eq!(code(pool.admit()), "admitted");
        drop(second);
    }

    #[test]
    fn one_user_holds_at_most_their_share() {
        let pool = WorkPool::new(BoundedPool::new("test", 2, 8), 2);
        let (alice, bob) = (UserId::random(), UserId::random());
        let held = [pool.admit(alice).unwrap(), pool.admit(alice).unwrap()];
        assert_eq!(code(pool.admit(alice)), "too_many_requests");
        assert_eq!(code(pool.admit(bob)), "admitted");
        let clone = held[0].clone();
        drop(held);
        // A clone of an admission still holds its share.
        let second = pool.admit(alice).expect("one of two is free");
        assert_eq!(code(pool.admit(alice)), "too_many_requests");
        drop(clone);
        assert_eq!(code(pool.admit(alice)), "admitted");
        drop(second);
    }

    #[test]
    fn a_busy_refusal_gives_the_share_back() {
        let pool = WorkPool::new(BoundedPool::new("test", 1, 0), 1);
        let _other = pool.admit(UserId::random()).unwrap();
        let alice = UserId::random();
        assert_eq!(code(pool.admit(alice)), "busy");
        assert!(pool.in_flight.lock().unwrap().get(&alice).is_none());
    }

    #[tokio::test]
    async fn jobs_run_on_no_more_threads_than_the_pool_has() {
        let pool = BoundedPool::new("test", 2, 8);
        let running = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let peak = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let jobs = (0..8).map(|_| {
            let admission = pool.admit().unwrap();
            let (running, peak) = (running.clone(), peak.clone());
            async move {
                admission
                    .run(move || {
                        use std::sync::atomic::Ordering::SeqCst;
                        let now = running.fetch_add(1, SeqCst) + 1;
                        peak.fetch_max(now, SeqCst);
                        std::thread::sleep(std::time::Duration::from_millis(20));
                        running.fetch_sub(1, SeqCst);
                    })
                    .await
            }
        });
        for result in futures::future::join_all(jobs).await {
            result.unwrap();
        }
        assert_eq!(peak.load(std::sync::atomic::Ordering::SeqCst), 2);
    }
}
