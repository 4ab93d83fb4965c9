"""The agent: one register request at a time, from frame to card to switch to answer."""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import fields as dataclass_fields
from pathlib import Path
from typing import Any

from iso8583 import CodecError, Message
from iso8583.redact import redact

from .card.apdu import CardError, LoyaltyCard
from .card.barcode import BarcodeScanner
from .card.pcsc import CardEvent, PcscUnavailable, ReaderWatcher, read_card
from .config import AgentConfig, ConfigError, apply_live, load_config
from .ecr.link import EcrLink
from .ecr.messages import EcrMessageError, EcrRequest, EcrResponse, parse_request
from .failover import ORIGINAL_SWITCH
from .fleet import Fleet
from .iso import REVERSIBLE, Outcome, financial_fields, outcome_of, reversal_fields
from .linkerrors import LinkDown, NoAnswer, NotSent
from .store import Entry, Outbox
from .switchlink import SwitchLink

log = logging.getLogger("lps.agent")


def _validate(payload: bytes) -> str | None:
    try:
        parse_request(payload)
    except EcrMessageError as exc:
        return str(exc)
    return None


class Agent:
    def __init__(self, cfg: AgentConfig, config_path: str | Path | None = None) -> None:
        self.cfg = cfg
        self.config_path = config_path
        self.outbox = Outbox(cfg.data_dir)
        self.fleet = Fleet(cfg, self.status, self.apply_config, self.command)
        self.switch = SwitchLink(cfg, self.outbox, on_change=self.fleet.status_changed,
                                 on_settled=self._settled, on_move=self._moved)
        self.ecr = EcrLink(cfg.ecr_port, cfg.ecr_baud, validate=_validate) if cfg.ecr_port else None
        self.barcode = BarcodeScanner(cfg.barcode_port, cfg.barcode_baud) if cfg.barcode_port \
            else None
        self.cards: asyncio.Queue[CardEvent] = asyncio.Queue()
        self.watcher: ReaderWatcher | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self.ecr_error = ""

    # -- state for the fleet ------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        link = "signed-on" if self.switch.signed_on else (
            "connected" if self.switch.connected else "down")
        return {"store_id": self.cfg.store_id, "switch": self.switch.host,
                "hosts": list(self.cfg.hosts), "profile": self.cfg.profile, "link": link,
                "saf_depth": self.outbox.count("advice"),
                "pending_reversals": self.outbox.count("reversal"),
                "last_error": self.switch.last_error, "register": self._register_state()}

    def _register_state(self) -> str:
        if self.ecr is None:
            return "none"
        return "open" if self.ecr.is_open else "down"

    async def apply_config(self, update: Any) -> str:
        topic = f"mqtt {self.cfg.topic_base}/config"
        new = apply_live(self.cfg, update, topic)
        changed = sorted(f.name for f in dataclass_fields(new)
                         if getattr(self.cfg, f.name) != getattr(new, f.name))
        self._set_config(new)
        log.info("live config applied: %s", ", ".join(changed) or "no change")
        return "changed: " + (", ".join(changed) or "nothing")

    def _set_config(self, new: AgentConfig) -> None:
        self.cfg = new
        self.fleet.cfg = new
        self.switch.reconfigure(new)

    async def command(self, name: str) -> tuple[bool, str]:
        if name == "flush-saf":
            depth = self.outbox.count("advice") + self.outbox.count("reversal")
            self.switch.kick()
            return True, f"draining {depth} queued message(s)"
        if name == "sign-on":
            try:
                code = await self.switch.sign_on()
            except (LinkDown, NoAnswer) as exc:
                return False, str(exc)
            return code == "00", f"sign-on answered {code}"
        if name == "reload-config":
            if self.config_path is None:
                return False, "agent was not started from a config file"
            try:
                new = load_config(self.config_path)
            except ConfigError as exc:
                return False, str(exc)
            if (new.terminal_id, new.data_dir, new.mqtt) != (
                    self.cfg.terminal_id, self.cfg.data_dir, self.cfg.mqtt):
                return False, "terminal_id, data_dir and mqtt need a restart"
            self._set_config(new)
            return True, f"reloaded {self.config_path}"
        return False, f"unknown command {name!r}"

    # -- life cycle ---------------------------------------------------------------------

    async def start(self) -> None:
        self._recover()
        loop = asyncio.get_running_loop()
        self._tasks.append(asyncio.create_task(self.switch.run(), name="switch"))
        self._tasks.append(asyncio.create_task(self.fleet.run(), name="fleet"))

        def on_card(ev: CardEvent) -> None:  # called in the watcher's thread
            loop.call_soon_threadsafe(self.cards.put_nowait, ev)

        self.watcher = ReaderWatcher(on_card)
        self.watcher.start()
        if self.barcode is not None:
            # opened, and reopened after a failure, while the register is served
            # (docs/agent.md, "Cards")
            self._tasks.append(asyncio.create_task(self.barcode.keep_open(), name="scanner"))
        if self.ecr is not None:
            self._tasks.append(asyncio.create_task(self._keep_register_open(), name="ecr-line"))
            self._tasks.append(asyncio.create_task(self._serve_register(), name="ecr"))

    async def stop(self) -> None:
        self.fleet.close()
        fleet = [t for t in self._tasks if t.get_name() == "fleet"]
        if fleet:
            await asyncio.wait(fleet, timeout=5)
        for t in self._tasks:
            t.cancel()
        if self._tasks:
            _done, stuck = await asyncio.wait(self._tasks, timeout=5)
            for t in stuck:
                log.error("task %s did not stop", t.get_name())
        if self.watcher is not None:
            await asyncio.to_thread(self.watcher.stop)
        if self.ecr is not None:
            self.ecr.close()
        if self.barcode is not None:
            self.barcode.close()
        self.outbox.close()

    async def run_forever(self) -> None:
        await self.start()
        try:
            await asyncio.gather(*self._tasks)
        finally:
            await self.stop()

    def _recover(self) -> None:
        """Requests in flight when the agent died have an unknown fate: reverse them."""
        for entry in self.outbox.entries("inflight"):
            if entry.context.get("request") not in REVERSIBLE:
                self.outbox.remove(entry.id)  # an inquiry changed nothing
                continue
            log.warning("request STAN %s was in flight at the last stop: reversing it",
                        entry.fields.get(11))
            self.outbox.replace(entry.id, [("reversal", "0400",
                                            reversal_fields(entry.mti, entry.fields, time.time()),
                                            entry.context)])

    # -- the register -------------------------------------------------------------------

    async def _keep_register_open(self, retry: float = 2.0) -> None:
        """Open the register's line, and reopen it whenever it fails (a USB adapter replugged,
        a port that does not exist yet): the agent keeps running meanwhile.

        An outage is logged and published once when it starts and once when it ends; the
        tries between are DEBUG only, so a register left unplugged overnight does not fill
        the log or the broker (docs/agent.md, "Fleet")."""
        assert self.ecr is not None
        loop = asyncio.get_running_loop()
        down_since: float | None = None
        while True:
            try:
                await self.ecr.open()
            except (OSError, ValueError) as exc:
                if down_since is None:
                    down_since = loop.time()
                    self.ecr_error = f"cannot open register line {self.cfg.ecr_port}: {exc}"
                    log.error("%s; retrying every %g s", self.ecr_error, retry)
                    self.fleet.status_changed()
                else:
                    log.debug("register line %s still cannot be opened: %s",
                              self.cfg.ecr_port, exc)
                await asyncio.sleep(retry)
                continue
            if down_since is not None:
                log.info("register line %s back after %.1f s", self.cfg.ecr_port,
                         loop.time() - down_since)
            self.ecr_error = ""
            self.fleet.status_changed()
            await self.ecr.lost.wait()
            down_since = loop.time()
            self.ecr_error = f"register line {self.cfg.ecr_port} failed"
            self.fleet.status_changed()
            await asyncio.sleep(retry)

    async def _serve_register(self) -> None:
        assert self.ecr is not None
        while True:
            payload = await self.ecr.take()
            try:
                req = parse_request(payload)
                resp = await self.serve(req)
                await self.ecr.send(resp.encode())
            except Exception:
                # masked: a card scanned into the invoice is a valid request (docs/protocol.md §6)
                log.exception("request %s failed", redact(repr(payload[:40])))
                await self.ecr.send(EcrResponse("96", message="system error").encode())
            finally:
                self.ecr.in_progress = None

    async def serve(self, req: EcrRequest) -> EcrResponse:
        """Wait for a card, transact, answer. Every path gives the register a clear code."""
        card, problem = await self.wait_card()
        if card is None:
            code = "XC" if problem is None else "XR"
            resp = EcrResponse(code, message=problem or "no card presented in time")
            self._event(req, None, resp)
            return resp
        resp = await self.transact(req, card)
        self._event(req, card, resp)
        return resp

    async def wait_card(self) -> tuple[LoyaltyCard | None, str | None]:
        """A card from a reader or the scanner within card_wait_seconds.

        (card, None) on success, (None, None) on a timeout, (None, why) for a bad card.
        """
        if self.barcode is not None:
            while not self.barcode.scans.empty():
                self.barcode.scans.get_nowait()  # scans from before the request are stale
        deadline = time.monotonic() + self.cfg.card_wait_seconds
        while True:
            reader = self._present_reader()
            if reader is not None:
                try:
                    return await read_card(reader, self.cfg.card_read_timeout_seconds), None
                except CardError as exc:
                    log.warning("card in %s unusable: %s: %s", reader, exc.kind, exc)
                    return None, _card_text(exc)
                except PcscUnavailable as exc:
                    return None, f"card reader unavailable: {exc}"
            left = deadline - time.monotonic()
            if left <= 0:
                return None, None
            got = await self._next_source(left)
            if isinstance(got, LoyaltyCard):
                return got, None
            if isinstance(got, CardError):
                return None, _card_text(got)

    def _present_reader(self) -> str | None:
        if self.watcher is None:
            return None
        for reader in list(self.watcher.present):
            if self.cfg.reader in ("auto", reader):
                return reader
        return None

    async def _next_source(self, timeout: float) -> LoyaltyCard | CardError | CardEvent | None:
        waits: list[asyncio.Task[LoyaltyCard | CardError | CardEvent]] = [
            asyncio.create_task(self.cards.get())]
        if self.barcode is not None:
            waits.append(asyncio.create_task(self.barcode.scans.get()))
        done, pending = await asyncio.wait(waits, timeout=timeout,
                                           return_when=asyncio.FIRST_COMPLETED)
        for t in pending:
            t.cancel()
        for t in done:
            return t.result()
        return None

    # -- the switch ---------------------------------------------------------------------

    async def transact(self, req: EcrRequest, card: LoyaltyCard) -> EcrResponse:
        fields = financial_fields(req, card, self.cfg.terminal_id, self.cfg.store_id, time.time())
        context = {"request": req.kind, "invoice": req.invoice, "card": card.masked}
        if not await self.switch.ready(self.cfg.request_timeout_seconds):
            return self._offline(req, fields, context, None, self.switch.last_error)
        # nothing awaits from here to the send: the entry names the switch the 0200 goes to
        context[ORIGINAL_SWITCH] = self.switch.host
        if req.kind in REVERSIBLE:
            entry = self.outbox.add("inflight", "0200", fields, context)
        else:  # an inquiry changes nothing: no need to remember it (or to reverse it)
            entry = Entry(0, "inflight", "0200", {**fields, 11: self.outbox.next_stan()}, 0,
                          context)
        try:
            resp = await self.switch.request("0200", entry.fields)
        except NotSent as exc:  # the switch cannot have seen it: nothing to reverse
            log.warning("%s %s: %s", req.kind, card.masked, exc)
            return self._offline(req, entry.fields, context, entry, str(exc), reached=False)
        except (LinkDown, NoAnswer) as exc:
            log.warning("%s %s: %s", req.kind, card.masked, exc)
            return self._offline(req, entry.fields, context, entry, str(exc))
        except CodecError as exc:
            self.outbox.remove(entry.id)
            log.error("cannot encode %s: %s", req.kind, exc)
            return EcrResponse("96", message=f"cannot build the request: {exc.reason}")
        self.outbox.remove(entry.id)
        self.fleet.status_changed()
        return outcome_of(resp).to_ecr()

    def _offline(self, req: EcrRequest, fields: dict[int, Any], context: dict[str, Any],
                 sent: Entry | None, why: str, reached: bool = True) -> EcrResponse:
        """The switch did not answer: reverse what may have reached it; queue an earn."""
        new: list[tuple[str, str, dict[int, Any], dict[str, Any]]] = []
        if sent is not None and reached and req.kind in REVERSIBLE:
            new.append(("reversal", "0400", reversal_fields("0200", sent.fields, time.time()),
                        context))
        if req.kind == "EARN":
            advice = {k: v for k, v in fields.items() if k != 11}
            new.append(("advice", "0220", advice, context))
        if sent is not None and sent.id:
            self.outbox.replace(sent.id, new)
        else:
            for kind, mti, f, ctx in new:
                self.outbox.add(kind, mti, f, ctx)
        self.switch.kick()
        self.fleet.status_changed()
        if req.kind == "EARN":
            return EcrResponse("XQ", message="switch unreachable: points queued, sent later")
        what = {"BURN": "points cannot be redeemed offline", "BAL": "balance unavailable",
                "TOPUP": "top-up unavailable", "REFUND": "refund unavailable"}[req.kind]
        return EcrResponse("XO", message=f"switch unreachable: {what}")

    def _settled(self, entry: Entry, resp: Message, switch: str, kept: bool) -> None:
        outcome: Outcome = outcome_of(resp)
        event = {"type": "advice" if entry.kind == "advice" else "reversal",
                 "mti": resp.mti, "stan": str(entry.fields.get(11)),
                 "card": entry.context.get("card", ""),
                 "invoice": redact(str(entry.context.get("invoice", ""))),
                 "code": outcome.code, "rrn": outcome.rrn, "earned": outcome.earned,
                 "balance": outcome.balance, "switch": switch}
        if kept:
            event["kept_for"] = entry.context.get(ORIGINAL_SWITCH, "")
        self.fleet.event(event)

    def _moved(self, kind: str, old: str, new: str, reason: str) -> None:
        self.fleet.event({"type": kind, "from": old, "to": new, "reason": reason})
        self.fleet.status_changed()

    def _event(self, req: EcrRequest, card: LoyaltyCard | None, resp: EcrResponse) -> None:
        # the invoice masked: a card scanned into it fits its 20 characters (docs/agent.md)
        self.fleet.event({"type": "transaction", "request": req.kind, "amount": req.amount,
                          "invoice": redact(req.invoice), "card": card.masked if card else "",
                          "entry_mode": card.entry_mode if card else "", "code": resp.code,
                          "rrn": resp.rrn, "earned": resp.earned, "redeemed": resp.redeemed,
                          "balance": resp.balance, "message": resp.message})


def _card_text(exc: CardError) -> str:
    """The register's short text; the technical detail (status words, PC/SC codes) is logged."""
    return {CardError.NO_APP: "not an LPS loyalty card",
            CardError.MUTE: "card does not answer",
            CardError.REMOVED: "card removed during reading",
            CardError.BAD_DATA: "card unreadable",
            CardError.READER: "card reader error"}.get(exc.kind, "card unreadable")
