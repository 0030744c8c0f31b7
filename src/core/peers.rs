//! Messages from other shards (and from this shard to itself): which part
//! of the core handles each. See `cluster` for what they mean.

use super::ShardRouter;
use super::cluster::ShardMsg;
use crate::proto::ShardId;

impl ShardRouter {
    /// One message of the cluster protocol from shard `from`.
    pub(super) fn peer_msg(&mut self, from: ShardId, msg: ShardMsg) {
        let cx = &mut self.cx;
        match msg {
            ShardMsg::SubJoin {
                realm,
                uri,
                policy,
                from: joiner,
                session,
            } => self
                .broker
                .owner_sub_join(cx, realm, uri, policy, joiner, session),
            ShardMsg::SubLeave {
                realm,
                uri,
                policy,
                from: leaver,
                session,
            } => self
                .broker
                .owner_sub_leave(cx, realm, uri, policy, leaver, session),
            ShardMsg::SubReplica {
                realm,
                uri,
                policy,
                id,
                shard,
                present,
                barrier,
            } => {
                self.broker
                    .apply_sub_replica(realm, &uri, policy, id, shard, present);
                cx.ack(from, barrier);
            }
            ShardMsg::SubJoined {
                realm,
                uri,
                policy,
                id,
            } => self.broker.sub_joined(cx, realm, uri, policy, id),
            ShardMsg::SubNode {
                realm,
                uri,
                policy,
                from: node_shard,
                nkey,
                present,
            } => self
                .broker
                .owner_sub_node(cx, realm, uri, policy, node_shard, nkey, present),
            ShardMsg::SubNodeReplica {
                realm,
                uri,
                policy,
                nkey,
                shard,
                present,
                barrier,
            } => {
                self.broker
                    .apply_sub_node_replica(realm, &uri, policy, &nkey, shard, present);
                cx.ack(from, barrier);
            }
            ShardMsg::SubNodeJoined {
                realm,
                uri,
                policy,
                nkey,
            } => self.broker.sub_node_joined(cx, realm, uri, policy, nkey),
            ShardMsg::BarrierAck { barrier } => cx.barrier_ack(barrier),
            ShardMsg::RegJoin {
                realm,
                uri,
                policy,
                from: callee_shard,
                session,
                request,
                invoke,
                disclose_caller,
                forward_timeout,
                force_reregister,
            } => {
                if force_reregister {
                    self.dealer
                        .owner_force_reregister(cx, realm, &uri, policy, session);
                }
                self.dealer.owner_reg_join(
                    cx,
                    realm,
                    uri,
                    policy,
                    callee_shard,
                    session,
                    request,
                    invoke,
                    disclose_caller,
                    forward_timeout,
                )
            }
            ShardMsg::RegDone {
                realm,
                uri,
                policy,
                session,
                request,
                result,
            } => self
                .dealer
                .reg_done(cx, realm, uri, policy, session, request, result),
            ShardMsg::RegLeave {
                realm,
                uri,
                policy,
                id,
                session,
            } => self
                .dealer
                .owner_reg_leave(cx, realm, uri, policy, id, session),
            ShardMsg::RegUnregister {
                realm,
                uri,
                policy,
                id,
                session,
                from: callee_shard,
                request,
            } => self.dealer.owner_reg_unregister(
                cx,
                realm,
                uri,
                policy,
                id,
                session,
                callee_shard,
                request,
            ),
            ShardMsg::RegUnregistered { session, request } => {
                self.dealer.reg_unregistered(cx, session, request)
            }
            ShardMsg::RegReplica {
                realm,
                uri,
                policy,
                id,
                change,
                barrier,
            } => {
                self.dealer
                    .apply_reg_replica(cx, realm, &uri, policy, id, &change);
                cx.ack(from, barrier);
            }
            ShardMsg::Publish(p) => self.broker.deliver_routed(cx, &p),
            ShardMsg::Front(m) => cx.front_inbox.push(m),
            ShardMsg::Call(c) => self.dealer.invoke(cx, *c),
            ShardMsg::Return(r) => self.dealer.call_return(cx, *r),
            ShardMsg::SubMeta {
                realm,
                subscribed,
                session,
                id,
            } => self
                .broker
                .owner_sub_meta(cx, realm, subscribed, session, id),
            ShardMsg::MetaQuery { from, query, q } => self.answer_meta_query(from, query, *q),
            ShardMsg::MetaPart { query, part } => self.meta_part(query, *part),
            ShardMsg::CallChunk(c) => self.dealer.call_chunk(cx, *c),
            ShardMsg::Bounce(c) => self.dealer.call_bounced(cx, *c, false),
            ShardMsg::Busy(c) => self.dealer.call_bounced(cx, *c, true),
            ShardMsg::SlotFree {
                realm,
                registration,
                callee,
                shard,
            } => self
                .dealer
                .slot_freed(cx, realm, registration, callee, shard),
            ShardMsg::CancelInvocation {
                caller,
                request,
                mode,
                reason,
            } => self
                .dealer
                .cancel_invocation(cx, caller, request, mode, reason),
            ShardMsg::Revoke {
                realm,
                registration,
                session,
                reason,
            } => self.dealer.revoke(cx, realm, registration, session, reason),
        }
    }
}
