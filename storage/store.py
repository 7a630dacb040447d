"""The unit of work's face: every repository, bound to one connection."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncConnection

from storage.affiliates import AffiliateRepository
from storage.audit import AuditRepository
from storage.campaigns import CampaignRepository
from storage.caps import CapRepository
from storage.clicks import ClickRepository
from storage.connect import ConnectRepository
from storage.conversions import ConversionRepository
from storage.fraud import FraudRepository
from storage.instance import InstanceSettingsRepository
from storage.links import LinkRepository
from storage.outbox import OutboxRepository
from storage.payouts import PayoutRepository
from storage.performance import PerformanceRepository
from storage.program_settings import ProgramSettingsRepository
from storage.programs import ProgramRepository
from storage.referral_activity import ReferralActivityRepository
from storage.referrals import ReferralRepository
from storage.reports import ReportRepository
from storage.reward_roles import RewardRoleRepository
from storage.rewards import RewardRepository
from storage.schedules import ScheduleRepository
from storage.server_joins import ServerJoinRepository
from storage.sightings import SightingRepository
from storage.targets import TargetRepository
from storage.weekly import WeeklyRepository


class Store:
    """Repositories sharing one transaction; get one from ``Database.transaction()``."""

    def __init__(self, connection: AsyncConnection) -> None:
        self.connection = connection
        self.programs = ProgramRepository(connection)
        self.affiliates = AffiliateRepository(connection)
        self.links = LinkRepository(connection)
        self.performance = PerformanceRepository(connection)
        self.campaigns = CampaignRepository(connection)
        self.audit = AuditRepository(connection)
        self.outbox = OutboxRepository(connection)
        self.referrals = ReferralRepository(connection)
        self.connect = ConnectRepository(connection)
        self.payouts = PayoutRepository(connection)
        self.reports = ReportRepository(connection)
        self.targets = TargetRepository(connection)
        self.server_joins = ServerJoinRepository(connection)
        self.clicks = ClickRepository(connection)
        self.conversions = ConversionRepository(connection)
        self.caps = CapRepository(connection)
        self.program_settings = ProgramSettingsRepository(connection)
        self.instance = InstanceSettingsRepository(connection)
        self.schedules = ScheduleRepository(connection)
        self.weekly = WeeklyRepository(connection)
        self.rewards = RewardRepository(connection)
        self.reward_roles = RewardRoleRepository(connection)
        self.fraud = FraudRepository(connection)
        self.referral_activity = ReferralActivityRepository(connection)
        self.sightings = SightingRepository(connection)
