"""A grant: the owner's permission for one recipient to receive some strands at one granularity."""

from __future__ import annotations

import re
import secrets

import msgspec

from agent.consent.dp import DpPolicy, NoisySummary
from agent.consent.granularity import Granularity, parse_granularity
from agent.consent.strands import check_pattern, covered, may_name_context
from agent.errors import ConsentError

_RECIPIENT = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,62}$")
# The recipient of what the owner's intents show (agent.intents): whoever reads the market. Grants to it
# are never summarised upstream; their data leaves only inside an intent the owner publishes.
MARKET = "market"


class Grant(msgspec.Struct, frozen=True, kw_only=True):
    """One grant as the ledger keeps it; times are unix seconds (wall clock)."""

    id: str
    recipient: str
    purpose: str
    strands: tuple[str, ...]
    granularity: str
    precision: int | None = None
    created_at: float
    expires_at: float | None = None
    dp: DpPolicy | None = None  # summaries leave noised under this policy (agent.consent.dp)

    @property
    def grain(self) -> Granularity:
        """The parsed granularity."""
        return parse_granularity(self.granularity)

    def covers(self, stream: str) -> bool:
        """True when this grant names ``stream``."""
        return covered(self.strands, stream)

    def expired(self, now: float) -> bool:
        """True once ``expires_at`` has passed."""
        return self.expires_at is not None and now >= self.expires_at


def new_grant(
    *,
    recipient: str,
    purpose: str,
    strands: list[str] | tuple[str, ...],
    granularity: str,
    precision: int | None,
    now: float,
    expires_at: float | None = None,
    allow_raw: bool = False,
    dp: DpPolicy | None = None,
) -> Grant:
    """Validate the owner's choices and return a new grant with a fresh id."""
    if not _RECIPIENT.match(recipient):
        raise ConsentError(
            f"invalid recipient {recipient!r}",
            hint="lower-case letters, digits, '_', '.' and '-' (it becomes part of the MQTT topic)",
            field="recipient",
            example="energy-coop",
        )
    if not purpose.strip():
        raise ConsentError(
            "a grant needs a purpose in plain words", field="purpose", example="heating advice"
        )
    if not strands:
        raise ConsentError(
            "a grant needs at least one strand", field="strand", example="living_room.temperature"
        )
    grain = parse_granularity(granularity)
    if grain.kind == "raw" and not allow_raw:
        raise ConsentError(
            "raw readings leave the home only when chosen explicitly",
            hint="confirm with {field} if you really mean to share every reading",
            field="allow_raw",
        )
    checked = tuple(check_pattern(s) for s in strands)
    if grain.kind == "events":
        # Events are label changes, which only context strands have: anything else would never send.
        for pattern in checked:
            if not may_name_context(pattern):
                raise ConsentError(
                    f"events are changes of a context label, and {pattern!r} names no context strand",
                    hint="give events on context.<model> (or context.*, labels.*); summary:<window> or raw"
                    " for sensors",
                    field="granularity",
                )
    if precision is not None and not -6 <= precision <= 9:
        raise ConsentError(
            f"precision {precision} is out of range",
            hint="decimal places between -6 and 9",
            field="precision",
        )
    if dp is not None:
        if grain.kind != "summary":
            raise ConsentError(
                f"differential privacy noises window summaries, not {grain.kind}",
                field="granularity",
                example="summary:1h",
            )
        dp.check()
        NoisySummary(dp)  # the measurement builds here, or the grant is refused (OpenDP missing, say)
    if expires_at is not None and expires_at <= now:
        raise ConsentError("the grant would expire before it starts", field="expires", example="30d")
    return Grant(
        id="g-" + secrets.token_hex(6),
        recipient=recipient,
        purpose=purpose.strip(),
        strands=checked,
        granularity=str(grain),
        precision=precision,
        created_at=now,
        expires_at=expires_at,
        dp=dp,
    )
