// Checkpoint target: filled in by its issue work.
