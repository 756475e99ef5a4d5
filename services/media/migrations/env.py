from lectern_common.migrations import run_alembic_env
from lectern_media.models import Base

run_alembic_env(Base.metadata)
