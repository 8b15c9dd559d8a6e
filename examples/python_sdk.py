# The seed's Python SDK example, as written; only the credentials and base URL come from
# the environment (CODEXOS_API_KEY, CODEXOS_BASE_URL) and the last line prints the result.
import os

from codexos import CodexOS

# Initialize client
client = CodexOS(
    api_key=os.environ["CODEXOS_API_KEY"],
    base_url=os.environ.get("CODEXOS_BASE_URL", "http://localhost:8001"),
)

# Create an agent
agent = client.agents.create(
    name="Documentation Bot",
    description="Automated documentation generator"
)

# Execute the agent
result = client.agents.execute(agent.id, input_data="Generate API docs")

print(agent.name, result.status, result.output, sep=" | ")
