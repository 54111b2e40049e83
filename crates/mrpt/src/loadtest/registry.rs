//! The ids every user of the run created, shared by all of them: a user
//! probes other users' ids from here, and an answer naming one of them is
//! recognised as foreign.

use super::endpoints::Kind;
use rand::Rng;
use std::sync::Mutex;

/// The ids one user of the run created: what its answers may name.
#[derive(Debug, Clone, Default)]
pub struct Owned {
    pub user: String,
    pub sessions: Vec<String>,
    pub datasets: Vec<String>,
    pub analyses: Vec<String>,
    pub plans: Vec<String>,
}

impl Owned {
    pub fn ids(&self, kind: Kind) -> &[String] {
        match kind {
            Kind::Dataset => &self.datasets,
            Kind::Analysis => &self.analyses,
            Kind::Plan => &self.plans,
            Kind::Session => &self.sessions,
        }
    }

    /// The most recent id of a kind: the one the workload reads.
    pub fn latest(&self, kind: Kind) -> Option<&str> {
        self.ids(kind).last().map(String::as_str)
    }

    fn contains(&self, id: &str) -> bool {
        self.user == id || [Kind::Dataset, Kind::Analysis, Kind::Plan, Kind::Session].iter().any(|kind| self.ids(*kind).iter().any(|own| own == id))
    }
}

pub struct Registry(Vec<Mutex<Owned>>);

impl Registry {
    pub fn new(users: usize) -> Self {
        Self((0..users).map(|_| Mutex::default()).collect())
    }

    fn lock(&self, user: usize) -> std::sync::MutexGuard<'_, Owned> {
        self.0[user].lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub fn update(&self, user: usize, change: impl FnOnce(&mut Owned)) {
        change(&mut self.lock(user));
    }

    pub fn owned(&self, user: usize) -> Owned {
        self.lock(user).clone()
    }

    /// Whether `id` was created by a user of the run other than `user`.
    pub fn is_foreign(&self, user: usize, id: &str) -> bool {
        (0..self.0.len()).any(|other| other != user && self.lock(other).contains(id))
    }

    /// The ids of another user picked at random, if there is another user.
    pub fn someone_else(&self, user: usize) -> Option<Owned> {
        let others = self.0.len().checked_sub(1).filter(|n| *n > 0)?;
        let pick = rand::thread_rng().gen_range(0..others);
        Some(self.owned(if pick >= user { pick + 1 } else { pick }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_of_other_users_are_foreign_and_own_ids_are_not() {
        let registry = Registry::new(3);
        registry.update(0, |owned| owned.datasets.push("d0".into()));
        registry.update(1, |owned| owned.sessions.push("s1".into()));
        assert!(registry.is_foreign(0, "s1"));
        assert!(!registry.is_foreign(1, "s1"));
        assert!(!registry.is_foreign(0, "never-made"));
        for _ in 0..20 {
            let other = registry.someone_else(1).unwrap();
            assert!(other.sessions.is_empty(), "never the user itself");
        }
        assert!(Registry::new(1).someone_else(0).is_none());
    }
}
