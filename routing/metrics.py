"""Prometheus metrics, one registry per app (tests build many apps in one process)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.messages = Counter(
            "switchboard_messages",
            "Messages handled, by channel and direction",
            ["channel", "direction"],
            registry=self.registry,
        )
        self.duplicates = Counter(
            "switchboard_inbound_duplicates",
            "Inbound messages dropped as repeated deliveries",
            ["channel"],
            registry=self.registry,
        )
        self.bot = Counter(
            "switchboard_bot_outcomes",
            "What the bot did with a customer message (answered, smalltalk, missed, escalated)",
            ["outcome"],
            registry=self.registry,
        )
        self.bot_fallbacks = Counter(
            "switchboard_bot_fallbacks",
            "Messages the embedded FAQ bot answered because the bot backend could not, by reason",
            ["backend", "reason"],
            registry=self.registry,
        )
        self.escalations = Counter(
            "switchboard_escalations",
            "Conversations escalated to the human queue, by reason",
            ["reason"],
            registry=self.registry,
        )
        self.queue_length = Gauge(
            "switchboard_queue_length", "Conversations waiting in the queue", registry=self.registry
        )
        self.queue_oldest_wait = Gauge(
            "switchboard_queue_oldest_wait_seconds",
            "How long the longest-waiting queued conversation has waited",
            registry=self.registry,
        )
        self.queue_wait = Histogram(
            "switchboard_queue_wait_seconds",
            "Time from escalation to an agent's claim",
            buckets=(5, 15, 30, 60, 120, 300, 600, 1800, 3600),
            registry=self.registry,
        )
        self.assignments = Counter(
            "switchboard_assignments",
            "Conversations given to an agent: auto (the desk), manual (claimed), transfer",
            ["how"],
            registry=self.registry,
        )
        self.agents = Gauge(
            "switchboard_agents",
            "Active agents by presence (online, away, offline)",
            ["presence"],
            registry=self.registry,
        )
        self.sla_breaches = Counter(
            "switchboard_sla_breaches",
            "SLA targets breached (first_response, next_response, resolution), raised once each",
            ["target"],
            registry=self.registry,
        )
        self.outbox_backlog = Gauge(
            "switchboard_outbox_items",
            "Outbox items by status",
            ["status"],
            registry=self.registry,
        )
        self.outbox_deliveries = Counter(
            "switchboard_outbox_deliveries",
            "Outbox delivery attempts by channel and result (sent, retry, failed)",
            ["channel", "result"],
            registry=self.registry,
        )
        self.bot_latency = Histogram(
            "switchboard_inbound_seconds",
            "Time to store an inbound message and decide the reply",
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
            registry=self.registry,
        )
