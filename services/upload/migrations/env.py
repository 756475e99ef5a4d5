from lectern_common.migrations import run_alembic_env
from lectern_upload.models import Base

run_alembic_env(Base.metadata)
