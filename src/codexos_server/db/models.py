"""Imports every table module so `Base.metadata` is complete (for migrations and tests)."""

from codexos_server.agents import models as agents_models
from codexos_server.auth import models as auth_models
from codexos_server.billing import models as billing_models
from codexos_server.db.base import Base
from codexos_server.jobs import models as jobs_models
from codexos_server.llm import models as llm_models
from codexos_server.marketplace import models as marketplace_models
from codexos_server.monitoring import models as monitoring_models
from codexos_server.oauth import models as oauth_models
from codexos_server.rag import models as rag_models
from codexos_server.users import models as users_models
from codexos_server.workflows import models as workflows_models
from codexos_server.workspaces import models as workspaces_models

metadata = Base.metadata

__all__ = [
    "agents_models",
    "auth_models",
    "billing_models",
    "jobs_models",
    "llm_models",
    "marketplace_models",
    "metadata",
    "monitoring_models",
    "oauth_models",
    "rag_models",
    "users_models",
    "workflows_models",
    "workspaces_models",
]
