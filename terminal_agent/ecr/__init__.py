"""Cash register (ECR) serial link, PROTOCOL.md §8."""
