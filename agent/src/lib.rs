//! hearth: one agent for an OpenWRT router — traffic shaping and VPN policy through netlink,
//! an LLM request balancer with budgets, and a Wi-Fi planner — configured by UCI.
//!
//! The library holds every engine; `main.rs` is only the command line. See
//! `../shared/DESIGN.md` (in the team's docs) and `docs/` for the architecture.

#![forbid(unsafe_code)]

pub mod balancer;
pub mod budget;
pub mod config;
pub mod control;
pub mod daemon;
pub mod devices;
mod keys;
pub mod logger;
pub mod netlink;
pub mod planner;
pub mod rpcd;
pub mod shaping;
pub mod uci;
pub mod vpn;
pub mod wifi;
