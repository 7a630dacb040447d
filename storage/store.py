"""The unit of work's face: every repository, bound to one connection."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncConnection

from storage.affiliates import AffiliateRepository
from storage.audit import AuditRepository
from storage.links import LinkRepository
from storage.outbox import OutboxRepository
from storage.performance import PerformanceRepository
from storage.programs import ProgramRepository
from storage.schedules import ScheduleRepository
from storage.weekly import WeeklyRepository


class Store:
    """Repositories sharing one transaction; get one from ``Database.transaction()``."""

    def __init__(self, connection: AsyncConnection) -> None:
        self.connection = connection
        self.programs = ProgramRepository(connection)
        self.affiliates = AffiliateRepository(connection)
        self.links = LinkRepository(connection)
        self.performance = PerformanceRepository(connection)
        self.audit = AuditRepository(connection)
        self.outbox = OutboxRepository(connection)
        self.schedules = ScheduleRepository(connection)
        self.weekly = WeeklyRepository(connection)
