//! Who gets a conversation: the auto-assignment decision as a pure
//! function. The store gathers the inputs inside the transaction that
//! records the cause (a push, an agent coming online, a chat resolved),
//! calls [`choose`] or [`drain`], and applies the result in that same
//! transaction, so the decision is made once and tested without a database.

use std::collections::HashMap;

use crate::{AccountId, Availability, ConversationId, UserId};

/// An agent who might take a conversation, as the store sees them at the
/// moment of the decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Candidate {
    pub id: UserId,
    pub availability: Availability,
    /// Open conversations assigned to the agent now (resolved ones do not count).
    pub load: u32,
    /// Most open conversations the agent takes by auto-assignment.
    pub capacity: u32,
}

impl Candidate {
    /// Online and below capacity: auto-assignment may give them one more.
    pub fn can_take(&self) -> bool {
        self.availability == Availability::Online && self.load < self.capacity
    }
}

/// Picks the agent for one conversation, or `None` when nobody can take it
/// (it then waits in the queue).
///
/// - `sticky`, the customer's last agent, wins when they are among the
///   candidates and can take it;
/// - otherwise round-robin: the first agent who can take it, in id order,
///   after `cursor` (the agent auto-assignment chose last for this
///   account), wrapping around. Keeping the cursor as an agent id rather
///   than a position means agents joining or leaving the pool never make
///   the rotation skip or repeat someone.
pub fn choose(
    candidates: &[Candidate],
    cursor: Option<UserId>,
    sticky: Option<UserId>,
) -> Option<UserId> {
    if let Some(last) = sticky
        && candidates.iter().any(|c| c.id == last && c.can_take())
    {
        return Some(last);
    }
    let mut able: Vec<UserId> = candidates
        .iter()
        .filter(|c| c.can_take())
        .map(|c| c.id)
        .collect();
    able.sort();
    able.dedup();
    let after = cursor.and_then(|cursor| able.iter().find(|id| **id > cursor));
    after.or(able.first()).copied()
}

/// One account's auto-assignment pool.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Pool {
    /// The agents who take this account's conversations; `None`: every
    /// candidate of the workspace.
    pub agents: Option<Vec<UserId>>,
    /// The agent round-robin chose last.
    pub cursor: Option<UserId>,
}

/// A conversation waiting in the queue, longest-waiting first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Waiting {
    pub conversation: ConversationId,
    pub account: AccountId,
    /// The customer's last agent.
    pub sticky: Option<UserId>,
    /// An agent who must not get it back (the one who just gave it up).
    pub exclude: Option<UserId>,
}

/// What [`drain`] decided.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Plan {
    /// Conversation → agent, in queue order.
    pub assignments: Vec<(ConversationId, UserId)>,
    /// The accounts whose round-robin cursor moved, with its new value.
    pub cursors: HashMap<AccountId, UserId>,
}

/// Hands out the queue, longest-waiting first, to the candidates who can
/// take more, each assignment counting towards the agent's load before the
/// next decision: nobody ends above capacity, and a conversation whose
/// account has no free agent stays waiting while later ones of other
/// accounts may still be assigned. Accounts without a pool are skipped.
pub fn drain(
    queue: &[Waiting],
    candidates: &[Candidate],
    pools: &HashMap<AccountId, Pool>,
) -> Plan {
    let mut agents: Vec<Candidate> = candidates.to_vec();
    let mut cursors: HashMap<AccountId, Option<UserId>> =
        pools.iter().map(|(a, p)| (*a, p.cursor)).collect();
    let mut plan = Plan::default();
    for waiting in queue {
        let Some(pool) = pools.get(&waiting.account) else {
            continue;
        };
        let eligible: Vec<Candidate> = agents
            .iter()
            .filter(|c| Some(c.id) != waiting.exclude)
            .filter(|c| pool.agents.as_ref().is_none_or(|ids| ids.contains(&c.id)))
            .copied()
            .collect();
        let cursor = cursors.get(&waiting.account).copied().flatten();
        let Some(agent) = choose(&eligible, cursor, waiting.sticky) else {
            continue;
        };
        if let Some(c) = agents.iter_mut().find(|c| c.id == agent) {
            c.load += 1;
        }
        if Some(agent) != waiting.sticky {
            cursors.insert(waiting.account, Some(agent));
            plan.cursors.insert(waiting.account, agent);
        }
        plan.assignments.push((waiting.conversation, agent));
    }
    plan
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn agent(id: i64, availability: Availability, load: u32, capacity: u32) -> Candidate {
        Candidate {
            id: UserId(id),
            availability,
            load,
            capacity,
        }
    }

    fn online(id: i64, load: u32, capacity: u32) -> Candidate {
        agent(id, Availability::Online, load, capacity)
    }

    #[test]
    fn round_robin_takes_the_next_agent_after_the_cursor_and_wraps() {
        let agents = [online(3, 0, 5), online(1, 0, 5), online(2, 0, 5)];
        assert_eq!(choose(&agents, None, None), Some(UserId(1)));
        assert_eq!(choose(&agents, Some(UserId(1)), None), Some(UserId(2)));
        assert_eq!(choose(&agents, Some(UserId(2)), None), Some(UserId(3)));
        assert_eq!(choose(&agents, Some(UserId(3)), None), Some(UserId(1)));
        // The last chosen agent left the pool: rotation goes on after them.
        assert_eq!(choose(&agents, Some(UserId(2)), None), Some(UserId(3)));
        let without_two = [online(1, 0, 5), online(3, 0, 5)];
        assert_eq!(choose(&without_two, Some(UserId(2)), None), Some(UserId(3)));
    }

    #[test]
    fn away_offline_and_full_agents_are_skipped_and_nobody_means_none() {
        let agents = [
            agent(1, Availability::Away, 0, 5),
            agent(2, Availability::Offline, 0, 5),
            online(3, 5, 5),
            online(4, 1, 2),
        ];
        assert_eq!(choose(&agents, None, None), Some(UserId(4)));
        assert_eq!(choose(&agents[..3], None, None), None);
        assert_eq!(choose(&[], None, None), None);
        assert_eq!(choose(&[online(1, 0, 0)], None, None), None, "capacity 0");
    }

    #[test]
    fn the_last_agent_gets_a_returning_customer_when_available() {
        let agents = [online(1, 0, 5), online(2, 0, 5)];
        assert_eq!(
            choose(&agents, Some(UserId(1)), Some(UserId(1))),
            Some(UserId(1))
        );
        let full = [online(1, 5, 5), online(2, 0, 5)];
        assert_eq!(choose(&full, None, Some(UserId(1))), Some(UserId(2)));
        let away = [agent(1, Availability::Away, 0, 5), online(2, 0, 5)];
        assert_eq!(choose(&away, None, Some(UserId(1))), Some(UserId(2)));
        // Not in the pool (another account's agent): ordinary rotation.
        assert_eq!(choose(&agents, None, Some(UserId(9))), Some(UserId(1)));
    }

    fn waiting(conversation: i64, account: i64) -> Waiting {
        Waiting {
            conversation: ConversationId(conversation),
            account: AccountId(account),
            sticky: None,
            exclude: None,
        }
    }

    #[test]
    fn drain_fills_free_agents_longest_waiting_first_and_keeps_the_rest_waiting() {
        let pools = HashMap::from([(AccountId(1), Pool::default())]);
        let queue = [waiting(10, 1), waiting(11, 1), waiting(12, 1)];
        let plan = drain(&queue, &[online(7, 1, 2), online(8, 2, 3)], &pools);
        assert_eq!(
            plan.assignments,
            vec![
                (ConversationId(10), UserId(7)),
                (ConversationId(11), UserId(8))
            ]
        );
        assert_eq!(plan.cursors.get(&AccountId(1)), Some(&UserId(8)));
    }

    #[test]
    fn drain_respects_each_accounts_agents_and_the_excluded_agent() {
        let pools = HashMap::from([
            (
                AccountId(1),
                Pool {
                    agents: Some(vec![UserId(7)]),
                    cursor: None,
                },
            ),
            (AccountId(2), Pool::default()),
        ]);
        let mut given_up = waiting(11, 2);
        given_up.exclude = Some(UserId(8));
        let queue = [waiting(10, 1), given_up, waiting(12, 3)];
        let plan = drain(&queue, &[online(7, 0, 1), online(8, 0, 5)], &pools);
        // 10 → 7 (its only agent); 11 may not go back to 8 and 7 is full;
        // account 3 has no pool.
        assert_eq!(plan.assignments, vec![(ConversationId(10), UserId(7))]);
    }

    fn availability() -> impl Strategy<Value = Availability> {
        prop_oneof![
            Just(Availability::Online),
            Just(Availability::Away),
            Just(Availability::Offline)
        ]
    }

    proptest! {
        /// Whatever the queue, pools and loads, nobody is given a
        /// conversation unless online, nobody ends above capacity (an agent
        /// already above it gets nothing), and no conversation is assigned
        /// twice.
        #[test]
        fn capacity_is_never_exceeded(
            agents in proptest::collection::vec((1i64..8, availability(), 0u32..6, 0u32..6), 0..8),
            queue in proptest::collection::vec((1i64..400, 1i64..4, proptest::option::of(1i64..8)), 0..40),
            restricted in proptest::collection::vec(proptest::option::of(proptest::collection::vec(1i64..8, 0..4)), 3),
            cursors in proptest::collection::vec(proptest::option::of(1i64..8), 3),
        ) {
            let mut seen = std::collections::HashSet::new();
            let candidates: Vec<Candidate> = agents
                .into_iter()
                .filter(|a| seen.insert(a.0))
                .map(|(id, av, load, cap)| agent(id, av, load, cap))
                .collect();
            let pools: HashMap<AccountId, Pool> = (1..=3)
                .map(|a| (AccountId(a), Pool {
                    agents: restricted[a as usize - 1].clone().map(|ids| ids.into_iter().map(UserId).collect()),
                    cursor: cursors[a as usize - 1].map(UserId),
                }))
                .collect();
            let mut ids = std::collections::HashSet::new();
            let queue: Vec<Waiting> = queue
                .into_iter()
                .filter(|q| ids.insert(q.0))
                .map(|(c, a, sticky)| Waiting {
                    conversation: ConversationId(c),
                    account: AccountId(a),
                    sticky: sticky.map(UserId),
                    exclude: None,
                })
                .collect();
            let plan = drain(&queue, &candidates, &pools);
            let mut given: HashMap<UserId, u32> = HashMap::new();
            let mut assigned = std::collections::HashSet::new();
            for (conversation, agent) in &plan.assignments {
                prop_assert!(assigned.insert(*conversation), "assigned twice");
                *given.entry(*agent).or_default() += 1;
                let w = queue.iter().find(|w| w.conversation == *conversation).unwrap();
                if let Some(only) = &pools[&w.account].agents {
                    prop_assert!(only.contains(agent), "outside the account's agents");
                }
            }
            for c in &candidates {
                let n = given.get(&c.id).copied().unwrap_or(0);
                if n > 0 {
                    prop_assert_eq!(c.availability, Availability::Online);
                    prop_assert!(c.load + n <= c.capacity, "{:?} got {} more", c, n);
                }
            }
            for agent in given.keys() {
                prop_assert!(candidates.iter().any(|c| c.id == *agent), "not a candidate");
            }
        }

        /// One decision alone: the chosen agent can take it, and `None` only
        /// when nobody can.
        #[test]
        fn choose_picks_someone_able_exactly_when_someone_is(
            agents in proptest::collection::vec((1i64..8, availability(), 0u32..4, 0u32..4), 0..8),
            cursor in proptest::option::of(1i64..8),
            sticky in proptest::option::of(1i64..8),
        ) {
            let candidates: Vec<Candidate> =
                agents.into_iter().map(|(id, av, load, cap)| agent(id, av, load, cap)).collect();
            let chosen = choose(&candidates, cursor.map(UserId), sticky.map(UserId));
            let anyone = candidates.iter().any(Candidate::can_take);
            prop_assert_eq!(chosen.is_some(), anyone);
            if let Some(id) = chosen {
                prop_assert!(candidates.iter().any(|c| c.id == id && c.can_take()));
            }
        }
    }
}
