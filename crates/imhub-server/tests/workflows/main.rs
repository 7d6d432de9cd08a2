//! The API of the team inbox, automation, leads, reports and alerts against
//! a real server on SQLite and PostgreSQL: one test binary, so the 2-core
//! machines link it once.

mod alerts;
mod automation;
mod console;
mod leads;
mod library;
mod operator;
mod reports;
mod search;
mod team;
