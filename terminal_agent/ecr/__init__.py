"""Cash register (ECR) serial link, docs/protocol.md §8."""
