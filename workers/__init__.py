"""The arq worker: deliveries, the sweeper and the partition/retention crons."""
