#pragma once
// Plain-C entry points for the parts of Open MPI that Swift cannot import directly:
// MPI_COMM_WORLD, MPI_FLOAT, MPI_SUM, MPI_IN_PLACE, ... are macros over addresses of globals.
// Every function returns an MPI error code (MPI_SUCCESS == 0) unless noted; this header does not
// include <mpi.h>, so Swift code sees only C types.

#include <stddef.h>

/// MPI_SUCCESS, for comparing return codes in Swift.
extern const int DPO_MPI_SUCCESS;
/// MPI_ERR_OTHER, used by the Swift layer for misuse it detects itself (e.g. calls after finalize).
extern const int DPO_MPI_ERR_OTHER;

/// Initializes MPI once with MPI_THREAD_FUNNELED (no-op if already initialized) and installs
/// MPI_ERRORS_RETURN on MPI_COMM_WORLD so failures come back as codes instead of aborting.
/// `provided` receives the thread level MPI granted.
int dpo_mpi_init(int *provided);
/// MPI_Initialized / MPI_Finalized (both callable at any time).
int dpo_mpi_initialized(int *flag);
int dpo_mpi_finalized(int *flag);
/// MPI_Finalize; a no-op if MPI is not initialized or already finalized.
int dpo_mpi_finalize(void);

/// Largest element (or byte) count handed to one MPI call; bigger buffers are split into several calls.
/// Defaults to INT_MAX because MPI counts are `int`; setting it lower (clamped to 1...INT_MAX) lets tests
/// exercise the splitting with small buffers.
size_t dpo_mpi_max_count_per_call(void);
void dpo_mpi_set_max_count_per_call(size_t count);

int dpo_mpi_comm_rank(int *rank);
int dpo_mpi_comm_size(int *size);

/// In-place sum all-reduce over MPI_COMM_WORLD. Counts above the per-call maximum are split into several calls.
int dpo_mpi_allreduce_sum_float(float *buffer, size_t count);
int dpo_mpi_allreduce_sum_double(double *buffer, size_t count);
/// Broadcasts `count` bytes from `root` (split like the all-reduces). Returns MPI_ERR_ROOT for a
/// root outside 0..<size without calling MPI (MPI's own check can be disabled at run time).
int dpo_mpi_broadcast_bytes(void *buffer, size_t count, int root);
int dpo_mpi_barrier(void);

/// MPI_Abort on MPI_COMM_WORLD; exits with `code` if MPI is not running or MPI_Abort returns.
void dpo_mpi_abort(int code) __attribute__((noreturn));

/// Writes the NUL-terminated MPI_Error_string text of `code` into `text` (at most `capacity` bytes).
void dpo_mpi_error_string(int code, char *text, size_t capacity);
/// MPI_MAX_ERROR_STRING: the buffer size that always fits an error string (including the NUL).
size_t dpo_mpi_max_error_string(void);

/// An in-flight non-blocking all-reduce (one MPI_Request per chunk).
typedef struct dpo_mpi_request dpo_mpi_request;
/// Starts an in-place float sum MPI_Iallreduce. On success `*request` must later be completed with
/// dpo_mpi_request_wait (or dpo_mpi_request_test reporting completion) and released with dpo_mpi_request_free.
/// The buffer must stay valid and untouched until then. On failure nothing stays in flight.
int dpo_mpi_iallreduce_sum_float(float *buffer, size_t count, dpo_mpi_request **request);
/// Sets `*completed` to 1 if every chunk has finished (MPI_Testall), else 0.
int dpo_mpi_request_test(dpo_mpi_request *request, int *completed);
/// Blocks until every chunk has finished (MPI_Waitall). Calling it again after completion is a no-op.
int dpo_mpi_request_wait(dpo_mpi_request *request);
/// Releases the handle; the operation must have completed.
void dpo_mpi_request_free(dpo_mpi_request *request);

// MARK: Node topology: communicators derived from MPI_COMM_WORLD and MPI shared-memory windows.

/// A communicator derived from MPI_COMM_WORLD, with MPI_ERRORS_RETURN installed. Its ranks are ordered as in the world.
typedef struct dpo_mpi_comm dpo_mpi_comm;
/// The ranks that can share memory with this one (MPI_Comm_split_type(MPI_COMM_TYPE_SHARED)): the ranks of its node.
int dpo_mpi_comm_split_shared_memory(dpo_mpi_comm **node);
/// MPI_Comm_split of MPI_COMM_WORLD by `color`; a negative color (MPI_UNDEFINED) leaves `*result` NULL.
int dpo_mpi_comm_split_world(int color, dpo_mpi_comm **result);
/// MPI_Comm_free (skipped once MPI is finalized) and the handle's release; NULL is ignored.
void dpo_mpi_comm_free(dpo_mpi_comm *comm);
int dpo_mpi_comm_rank_in(dpo_mpi_comm *comm, int *rank);
int dpo_mpi_comm_size_in(dpo_mpi_comm *comm, int *size);
int dpo_mpi_barrier_in(dpo_mpi_comm *comm);
/// In-place float sum within `comm`, split like the world all-reduce.
int dpo_mpi_allreduce_sum_float_in(dpo_mpi_comm *comm, float *buffer, size_t count);
/// Broadcasts `count` bytes from `root` (a rank of `comm`) within `comm`, split like the world broadcast.
int dpo_mpi_broadcast_bytes_in(dpo_mpi_comm *comm, void *buffer, size_t count, int root);
/// MPI_Get_processor_name, NUL-terminated in at most `capacity` bytes.
int dpo_mpi_processor_name(char *name, size_t capacity);
/// MPI_MAX_PROCESSOR_NAME: the buffer size that always fits a processor name.
size_t dpo_mpi_max_processor_name(void);

/// An MPI window over memory shared by the ranks of one node, in a passive-target epoch (MPI_Win_lock_all) for its life.
typedef struct dpo_mpi_window dpo_mpi_window;
/// MPI_Win_allocate_shared over `comm` (whose ranks must share memory): this rank's segment of `bytes` bytes at `*base`,
/// on pages of its own (alloc_shared_noncontig), not necessarily aligned beyond 8 bytes. Collective over `comm`.
int dpo_mpi_win_allocate_shared(dpo_mpi_comm *comm, size_t bytes, dpo_mpi_window **window, void **base);
/// The segment of rank `rank` of the window's communicator, as this process maps it (MPI_Win_shared_query).
int dpo_mpi_win_shared_query(dpo_mpi_window *window, int rank, size_t *bytes, void **base);
/// MPI_Win_sync: orders this process's loads and stores on the window against other ranks' (with a barrier between).
int dpo_mpi_win_sync(dpo_mpi_window *window);
/// Ends the epoch and frees the window (collective; skipped once MPI is finalized), then releases the handle.
void dpo_mpi_win_free(dpo_mpi_window *window);
