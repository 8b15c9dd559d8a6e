"""The GraphQL API (Strawberry) over the same services as REST: queries, mutations and
subscriptions at `/api/v1/graphql`."""
