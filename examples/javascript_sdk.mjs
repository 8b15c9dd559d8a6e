// The seed's "JavaScript SDK" example (docs: seed API reference), as written: only the API key
// and base URL are real (from CODEXOS_API_KEY / CODEXOS_BASE_URL), and the last line prints the
// result. Run it where @codexos/sdk is installed, with a server running (`make run`);
// sdks/js/test/example.test.mjs runs it against a live server.
import { CodexOS } from '@codexos/sdk';

// Initialize client
const client = new CodexOS({
  apiKey: process.env.CODEXOS_API_KEY,
  baseUrl: process.env.CODEXOS_BASE_URL ?? 'http://localhost:8001'
});

// Create an agent
const agent = await client.agents.create({
  name: 'Documentation Bot',
  description: 'Automated documentation generator'
});

// Execute the agent
const result = await client.agents.execute(agent.id, {
  inputData: 'Generate API docs'
});

console.log(JSON.stringify({ agent: agent.id, status: result.status, output: result.output }));
