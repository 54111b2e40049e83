//! mrpt: malaria risk prioritisation of wards, served over HTTP to many
//! users at once without any user ever seeing another's data.

pub mod account_deletion;
pub mod admin;
pub mod analyses;
pub mod budgets;
pub mod client_limits;
pub mod config;
pub mod datasets;
pub mod domain;
pub mod error;
pub mod http;
pub mod listener;
pub mod loadtest;
pub mod metrics;
pub mod password;
pub mod principal;
pub mod private_fs;
pub mod security;
pub mod serve;
pub mod store;
pub mod supervisor;
pub mod sweep;
pub mod token;
pub mod tus;
pub mod uploads;
pub mod work;
