//! The public members of `struct raft`, kept current for programs that read them directly (as
//! C-Raft programs do: `r->current_term`, `r->configuration.servers[i]`, `r->state`, ...).
//!
//! The library never reads these members back: the core is the only source of truth, and
//! [`publish`] copies from it after every call that may have changed it. Configurations are
//! copied only when the core's membership generation moved, so a step that changes nothing
//! about membership costs a handful of stores.

use std::ffi::c_char;
use std::ptr::{addr_of_mut, null_mut};

use super::instance::Instance;
use super::types::*;
use crate::core;

/// A configuration in C form: the server array and NUL-terminated copies of the addresses it
/// points to, owned here and replaced as a whole.
#[derive(Default)]
struct CConfiguration {
    servers: Vec<raft_server>,
    addresses: Vec<Vec<u8>>,
}

impl CConfiguration {
    /// A copy of `conf`; None when out of memory.
    fn of(conf: &core::Configuration) -> Option<CConfiguration> {
        let mut copy = CConfiguration::default();
        copy.servers.try_reserve_exact(conf.servers.len()).ok()?;
        copy.addresses.try_reserve_exact(conf.servers.len()).ok()?;
        for server in &conf.servers {
            let mut address = Vec::new();
            address.try_reserve_exact(server.address.len() + 1).ok()?;
            address.extend(server.address.bytes().take_while(|&b| b != 0));
            address.push(0);
            copy.servers.push(raft_server {
                id: server.id,
                address: address.as_ptr() as *mut c_char,
                role: role_code(server.role),
            });
            copy.addresses.push(address);
        }
        Some(copy)
    }

    fn as_c(&mut self) -> raft_configuration {
        if self.servers.is_empty() {
            return raft_configuration { servers: null_mut(), n: 0 };
        }
        raft_configuration { servers: self.servers.as_mut_ptr(), n: self.servers.len() as u32 }
    }
}

/// What the instance last published; the memory the published pointers point into.
pub struct Published {
    generation: Option<u64>,
    current: CConfiguration,
    committed: CConfiguration,
}

impl Published {
    pub fn new() -> Published {
        Published { generation: None, current: Default::default(), committed: Default::default() }
    }
}

/// Copies the settings into the public members of `*r` (after `raft_init` and each setter;
/// steps never change them).
///
/// # Safety
/// As [`publish`].
pub unsafe fn publish_settings(r: *mut raft, inst: &Instance) {
    let settings = inst.core.settings();
    // SAFETY: plain members of the caller's initialised struct, written through the raw
    // pointer (the host may read them between calls; no Rust reference to them exists).
    unsafe {
        (*r).capacity_threshold = settings.capacity_threshold;
        (*r).election_timeout = settings.election_timeout;
        (*r).heartbeat_timeout = settings.heartbeat_timeout;
        (*r).install_snapshot_timeout = settings.install_snapshot_timeout;
        (*r).pre_vote = settings.pre_vote as c_bool;
        (*r).max_catch_up_rounds = settings.max_catch_up_rounds;
        (*r).max_catch_up_round_duration = settings.max_catch_up_round_duration;
    }
}

/// Copies the core's state into the public members of `*r` (after `raft_init` and every
/// step). `last_applied` is the classic driver's business (the `raft_step` host applies).
///
/// # Safety
/// `r` must point to the initialised `struct raft` that owns `inst`, and no Rust reference to
/// its public members may be alive.
pub unsafe fn publish(r: *mut raft, inst: &mut Instance) {
    let core = &inst.core;
    let membership = core.membership();
    let published = &mut inst.published;
    let mut configurations = None;
    if published.generation != Some(membership.generation) {
        if let (Some(current), Some(committed)) =
            (CConfiguration::of(membership.current), CConfiguration::of(membership.committed))
        {
            published.current = current;
            published.committed = committed;
            published.generation = Some(membership.generation);
            configurations = Some((published.current.as_c(), published.committed.as_c()));
        }
        // Without memory the previous configurations stay published; the next call retries.
    }
    let state: raft_state = core.state().into();
    let leader = match core.leader() {
        Some((id, _)) if core.state() == core::State::Follower => {
            raft_leader_info { id, address: inst.addresses.recorded(id) as *mut c_char }
        }
        _ => raft_leader_info { id: 0, address: null_mut() },
    };
    // SAFETY: plain members of the caller's initialised struct, written through the raw
    // pointer (the host may read them between calls; no Rust reference to them exists).
    unsafe {
        (*r).current_term = core.current_term();
        (*r).voted_for = core.voted_for();
        (*r).capacity = core.capacity();
        if let Some((current, committed)) = configurations {
            (*r).configuration = current;
            (*r).configuration_committed = committed;
            (*r).configuration_committed_index = membership.committed_index;
            (*r).configuration_uncommitted_index = membership.uncommitted_index;
        }
        (*r).commit_index = core.commit_index();
        (*r).last_stored = core.persisted_index();
        let role = addr_of_mut!((*r).role);
        if (*r).state != state as u16 {
            // The union's bytes belonged to the previous role.
            role.write_bytes(0, 1);
            (*r).state = state as u16;
        }
        match state {
            raft_state::RAFT_LEADER => {
                (*role).leader_state.transferee = core.transferee();
                (*role).leader_state.transferring = (core.transferee() != 0) as c_bool;
            }
            raft_state::RAFT_CANDIDATE => {}
            _ => (*role).follower_state.current_leader = leader,
        }
    }
}
