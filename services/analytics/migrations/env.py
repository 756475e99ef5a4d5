from lectern_analytics.models import Base
from lectern_common.migrations import run_alembic_env

run_alembic_env(Base.metadata)
