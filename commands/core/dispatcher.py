"""The one error boundary: permission, parsing and execution of a command.

Adapters hand in a command line (console, Telegram) or already-split options (Discord);
the dispatcher checks the audience once, parses the line or binds the options, runs the
handler and always returns replies. Domain errors become their own sentence; anything else
is logged with an error id and the user gets a short apology quoting it, never a
traceback.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

from commands.core.cooldown import CommandLimits, cooldown_reply
from commands.core.errors import CommandError, PermissionDenied, UsageError
from commands.core.invocation import Actor, ChatKind, Invocation, Services
from commands.core.registry import Audience, CommandSpec, Registry
from commands.core.reply import Reply, Visibility

log = logging.getLogger(__name__)


class Dispatcher:
    def __init__(
        self, registry: Registry, services: Services, limits: CommandLimits | None = None
    ) -> None:
        self.registry = registry
        self.services = services
        self.limits = limits or CommandLimits(per_minute=0)  # the app passes the configured

    async def execute_line(
        self,
        line: str,
        actor: Actor,
        chat: ChatKind,
        *,
        chat_id: str | None = None,
        returning: bool = True,
    ) -> list[Reply]:
        """Run a typed command line such as ``/link shop spring``.

        ``returning=False`` says this contact is part of a signup, not a referred account
        coming back (Telegram answers a referral's ``/start`` with /help as well).
        """
        spec, word, rest = self.registry.resolve(line)
        if spec is None:
            return [self._unknown(word, rest, actor)]
        return await self._run(
            spec, actor, chat, chat_id, lambda: spec.parse(rest), returning=returning
        )

    async def execute(
        self,
        spec: CommandSpec,
        options: Mapping[str, object],
        actor: Actor,
        chat: ChatKind,
        *,
        chat_id: str | None = None,
    ) -> list[Reply]:
        """Run a command whose options the platform already split (Discord).

        Each value is bound to its parameter as it is (``CommandSpec.bind``): text as
        typed, users as their id, whole numbers as ints, flags as bools.
        """
        return await self._run(spec, actor, chat, chat_id, lambda: spec.bind(options))

    async def _run(
        self,
        spec: CommandSpec,
        actor: Actor,
        chat: ChatKind,
        chat_id: str | None,
        parse: Callable[[], dict[str, Any]],
        *,
        returning: bool = True,
    ) -> list[Reply]:
        invocation = Invocation(
            actor=actor,
            chat=chat,
            services=self.services,
            now=self.services.clock(),
            chat_id=chat_id,
        )
        if wait := self.limits.wait(actor, invocation.now):
            return [cooldown_reply(wait)]
        await self._note_contact(actor, returning=returning)
        try:
            if not allowed(spec, actor):
                log.warning("refused /%s for %s: managers only", spec.name, actor.label)
                raise PermissionDenied(f"/{spec.name} is for program managers only.")
            values = parse()
            if spec.audience is Audience.AFFILIATE:
                invocation = await self._with_affiliate(invocation)
            result = await spec.handler(invocation, **values)
        except UsageError as error:
            return [_usage_reply(spec, str(error))]
        except CommandError as error:
            return [Reply(text=str(error), visibility=_visibility(spec))]
        except Exception:
            error_id = secrets.token_hex(4)
            log.exception("error %s in /%s for %s", error_id, spec.name, actor.label)
            return [
                Reply(
                    text=(
                        f"Sorry, something went wrong on our side (error {error_id}). "
                        "Nothing was changed; please try again, and tell a manager if it "
                        "keeps happening."
                    ),
                    visibility=_visibility(spec),
                )
            ]
        return result if isinstance(result, list) else [result]

    async def _note_contact(self, actor: Actor, *, returning: bool) -> None:
        """Talking to the bot makes an account reachable for private messages again, and
        (when ``returning``) a referred account's later command shows it came back.

        Two indexed reads per command; a write happens only for an account delivery had
        marked unreachable, or for a referred account's first return. A failure here
        never stops the command.
        """
        try:
            async with self.services.database.read() as store:
                marked = await store.affiliates.is_unreachable(actor.platform, actor.user_id)
                referred = returning and await store.referral_activity.watched(
                    actor.platform, actor.user_id
                )
            if referred:
                # A referred account acting again: it is not a throwaway (commands.fraud.inactive).
                async with self.services.database.transaction() as store:
                    await store.referral_activity.returned(
                        actor.platform, actor.user_id, now=self.services.clock()
                    )
            if marked:
                async with self.services.database.transaction() as store:
                    await store.affiliates.touch(
                        actor.platform, actor.user_id, now=self.services.clock()
                    )
                log.info("%s talked to the bot: reachable again", actor.label)
        except Exception:
            log.exception("could not note that %s is reachable", actor.label)

    async def _with_affiliate(self, invocation: Invocation) -> Invocation:
        actor = invocation.actor
        async with self.services.database.read() as store:
            affiliate = await store.affiliates.by_identity(actor.platform, actor.user_id)
        if affiliate is None:
            raise CommandError(
                "You are not an affiliate yet. See the open programs with /programs "
                "and join one with /join <program>."
            )
        return replace(invocation, affiliate=affiliate)

    def _unknown(self, word: str, rest: str, actor: Actor) -> Reply:
        if not word:
            return Reply(text="Commands start with /. Type /help to see what you can do.")
        group = [spec for spec in self.registry.groups().get(word, []) if allowed(spec, actor)]
        if group:
            sub = rest.split(" ", 1)[0]
            lead = f"/{word} has no subcommand {sub!r}." if sub else f"/{word} needs a subcommand."
            lines = [lead, *(f"{spec.usage} — {spec.description}" for spec in group)]
            return Reply(text="\n".join(lines))
        return Reply(text=f"There is no command /{word}. Type /help to see what you can do.")


def allowed(spec: CommandSpec, actor: Actor) -> bool:
    """Whether ``actor`` may run ``spec`` (affiliate commands are open to everyone who
    enrols, so only manager commands are gated here)."""
    return spec.audience is not Audience.MANAGER or actor.is_manager


def _visibility(spec: CommandSpec) -> Visibility:
    return Visibility.PRIVATE if spec.private else Visibility.PUBLIC


def _usage_reply(spec: CommandSpec, problem: str) -> Reply:
    sentence = problem.rstrip(".")
    text = f"{sentence[0].upper()}{sentence[1:]}.\nUsage: {spec.usage}"
    if spec.examples:
        text += f"\nExample: {spec.examples[0]}"
    return Reply(text=text, visibility=_visibility(spec))
