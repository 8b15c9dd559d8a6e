#!/usr/bin/env bash
# The API reference's cURL Quick Start, as written, against a local server: only the base URL
# (http://localhost:8001, or CODEXOS_BASE_URL) and real credentials are filled in.
#   CODEXOS_EMAIL=you@example.com CODEXOS_PASSWORD='…' examples/quickstart.sh
set -euo pipefail
BASE_URL="${CODEXOS_BASE_URL:-http://localhost:8001}"
EMAIL="${CODEXOS_EMAIL:?set CODEXOS_EMAIL}"
PASSWORD="${CODEXOS_PASSWORD:?set CODEXOS_PASSWORD}"

# 1. Get Your API Key
# Login to get your access token
LOGIN=$(curl -sS -X POST "$BASE_URL/api/v1/auth/login" \
  -H "Content-Type: application/json" \
  -d "{
    \"email\": \"$EMAIL\",
    \"password\": \"$PASSWORD\"
  }")
YOUR_ACCESS_TOKEN=$(printf '%s' "$LOGIN" | python3 -c 'import json, sys; print(json.load(sys.stdin)["access_token"])')
echo "logged in: token type $(printf '%s' "$LOGIN" | python3 -c 'import json, sys; print(json.load(sys.stdin)["token_type"])')"

# 2. Make Your First API Call
# Get your user profile
curl -sS -X GET "$BASE_URL/api/v1/users/me" \
  -H "Authorization: Bearer $YOUR_ACCESS_TOKEN"
echo

# 3. Create Your First Agent
# Create a simple agent
curl -sS -X POST "$BASE_URL/api/v1/agents" \
  -H "Authorization: Bearer $YOUR_ACCESS_TOKEN" \
  -H "Content-Type: application/json" \
  -d '{
    "name": "My First Agent",
    "description": "A simple test agent",
    "type": "basic"
  }'
echo
