// Test helpers: filled in with the MPI work.
