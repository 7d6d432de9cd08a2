//! The store's behaviours beyond the core conversation flow, each module
//! run on SQLite and PostgreSQL: one test binary, so the 2-core machines
//! link it once and start one throwaway PostgreSQL for all of them.

mod alerts;
mod assignment;
mod automation;
mod console;
mod group_members;
mod leads;
mod notes_labels;
mod operator;
mod rate_slots;
mod search;
mod turns;
