"""What each report figure means, and the columns of each table figure (its JSON ``rows`` and
its CSV). The README's "Reports" repeats the definitions.
"""

from __future__ import annotations

PERCENTILES = (
    "Median: the middle value (the mean of the two middle values for an even count). "
    "90th percentile (p90): nearest rank, the smallest value that at least 90% of the values "
    "are at or below. Durations are in seconds; business seconds count only the workspace's "
    "opening hours (sla.business_hours), and are null where it defines none."
)
DEFINITIONS = {
    "volume_by_channel": (
        "Conversations started in the range (by their creation) and customer messages received "
        "in it (inbound touchpoints of kind message), per channel."
    ),
    "volume_by_hour": (
        "The same two counts by hour of the day (0–23) in the report's time zone, summed over "
        "the days of the range."
    ),
    "volume_by_day": (
        "The same two counts per calendar day in the report's time zone; every day of the "
        "range is listed, zeros included."
    ),
    "containment": (
        "Of the conversations started in the range, the contained ones never involved a person, "
        "up to the time of the report: no escalation, claim, transfer or agent reply touchpoint. "
        "Rate = contained ÷ started, per channel and overall."
    ),
    "escalation_reasons": (
        "Escalations in the range (touchpoints of kind escalation) by the reason the router "
        "recorded (bot_unanswered, customer_request, reopened, voicemail, …); share = count ÷ "
        "all escalations in the range. A conversation escalated twice counts twice."
    ),
    "first_response": (
        "For each escalation in the range (one stay in the queue), the time from the escalation "
        "to the first agent reply after it and before the conversation's next escalation. Per "
        "team (where the escalation routed it), agent (who sent that reply) and channel, "
        "wall-clock and in business hours. Escalations not answered yet are counted as "
        "unanswered and left out of the times."
    ),
    "resolution": (
        "For each conversation closed in the range (once, at its last close in the range), the "
        "time from its creation to that close. Per team (the conversation's), agent (who "
        "closed it) and channel, wall-clock and in business hours."
    ),
    "sla": (
        "First-response SLA attainment. Each escalation in the range whose conversation has a "
        "first-response target (the team and segment's SLA policy, as routing applies it; mail "
        "queued with a priority below 0 has none): met when the first agent reply came by the "
        "due time (the target counted in business time from the escalation); breached when it "
        "came later, or has not come and the due time has passed; else pending. Attainment = "
        "met ÷ (met + breached); pending ones are left out."
    ),
    "csat": (
        "Satisfaction scores (1–5) customers gave in the range in the survey after a close. "
        "Average, count, and satisfied share (scores 4 and 5 ÷ all scores); per agent (who "
        "closed the conversation before the score), team (the conversation's) and channel."
    ),
    "queue_wait": (
        "For each escalation in the range, the time from the escalation to the first claim "
        "after it (by hand or automatic, or a transfer to an agent). Per team and channel; "
        "escalations nobody claimed (still waiting, or handed back) are counted as unclaimed "
        "and left out of the times."
    ),
    "top_articles": (
        "Bot answers given from each article in the range (bot answers naming an article; "
        "misses left out), with the helpful and not helpful votes cast in the range on that "
        "article and language (article_feedback); helpful share = helpful ÷ votes. Most "
        "answers first."
    ),
    "knowledge_gaps": (
        "Questions the bot could not answer in the range, counted as the knowledge-gap report "
        "counts them before grouping: misses, escalations because the bot kept missing, and "
        "answers rated not helpful; one question counts once per conversation."
    ),
}
DURATION_COLUMNS = [
    "group",
    "key",
    "label",
    "count",
    "median_seconds",
    "p90_seconds",
    "median_business_seconds",
    "p90_business_seconds",
]
COLUMNS: dict[str, list[str]] = {
    "volume_by_channel": ["channel", "conversations", "messages"],
    "volume_by_hour": ["hour", "conversations", "messages"],
    "volume_by_day": ["date", "conversations", "messages"],
    "containment": ["channel", "started", "contained", "escalated", "rate"],
    "escalation_reasons": ["reason", "count", "share"],
    "first_response": [*DURATION_COLUMNS, "unanswered"],
    "resolution": DURATION_COLUMNS,
    "sla": ["team", "met", "breached", "pending", "attainment"],
    "csat": ["group", "key", "label", "count", "average", "satisfied", "satisfied_share"],
    "queue_wait": ["group", "key", "label", "count", "median_seconds", "p90_seconds", "unclaimed"],
    "top_articles": [
        "article_id",
        "locale",
        "title",
        "answers",
        "helpful",
        "not_helpful",
        "helpful_share",
    ],
}
