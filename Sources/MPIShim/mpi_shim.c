#include "mpi_shim.h"

#include <limits.h>
#include <stdint.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const int DPO_MPI_SUCCESS = MPI_SUCCESS;
const int DPO_MPI_ERR_OTHER = MPI_ERR_OTHER;

/// Largest element count passed to a single MPI call (MPI counts are `int`).
static size_t max_chunk = (size_t)INT_MAX;

size_t dpo_mpi_max_count_per_call(void) { return max_chunk; }

void dpo_mpi_set_max_count_per_call(size_t count) {
    max_chunk = count < 1 ? 1 : count > (size_t)INT_MAX ? (size_t)INT_MAX : count;
}

static size_t chunk_count(size_t count) {
    return count == 0 ? 0 : (count - 1) / max_chunk + 1;
}

static int chunk_length(size_t count, size_t chunk) {
    size_t remaining = count - chunk * max_chunk;
    return (int)(remaining < max_chunk ? remaining : max_chunk);
}

int dpo_mpi_init(int *provided) {
    int initialized = 0;
    int rc = MPI_Initialized(&initialized);
    if (rc != MPI_SUCCESS) return rc;
    rc = initialized ? MPI_Query_thread(provided)
                     : MPI_Init_thread(NULL, NULL, MPI_THREAD_FUNNELED, provided);
    if (rc != MPI_SUCCESS) return rc;
    return MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
}

int dpo_mpi_initialized(int *flag) { return MPI_Initialized(flag); }

int dpo_mpi_finalized(int *flag) { return MPI_Finalized(flag); }

int dpo_mpi_finalize(void) {
    int initialized = 0, finalized = 0;
    MPI_Initialized(&initialized);
    MPI_Finalized(&finalized);
    if (!initialized || finalized) return MPI_SUCCESS;
    return MPI_Finalize();
}

int dpo_mpi_comm_rank(int *rank) { return MPI_Comm_rank(MPI_COMM_WORLD, rank); }

int dpo_mpi_comm_size(int *size) { return MPI_Comm_size(MPI_COMM_WORLD, size); }

/// In-place sum over `count` elements of `element_size` bytes within `comm`, one MPI_Allreduce per chunk.
static int allreduce_sum_chunked(char *buffer, size_t count, size_t element_size, MPI_Datatype type, MPI_Comm comm) {
    size_t chunks = chunk_count(count);
    for (size_t chunk = 0; chunk < chunks; chunk++) {
        int rc = MPI_Allreduce(MPI_IN_PLACE, buffer + chunk * max_chunk * element_size,
                               chunk_length(count, chunk), type, MPI_SUM, comm);
        if (rc != MPI_SUCCESS) return rc;
    }
    return MPI_SUCCESS;
}

int dpo_mpi_allreduce_sum_float(float *buffer, size_t count) {
    return allreduce_sum_chunked((char *)buffer, count, sizeof(float), MPI_FLOAT, MPI_COMM_WORLD);
}

int dpo_mpi_allreduce_sum_double(double *buffer, size_t count) {
    return allreduce_sum_chunked((char *)buffer, count, sizeof(double), MPI_DOUBLE, MPI_COMM_WORLD);
}

/// Broadcasts `count` bytes from `root` within `comm`, one MPI_Bcast per chunk; MPI_ERR_ROOT for a root outside it.
static int broadcast_bytes_chunked(void *buffer, size_t count, int root, MPI_Comm comm) {
    int size = 0;
    int rc = MPI_Comm_size(comm, &size);
    if (rc != MPI_SUCCESS) return rc;
    if (root < 0 || root >= size) return MPI_ERR_ROOT;
    size_t chunks = chunk_count(count);
    for (size_t chunk = 0; chunk < chunks; chunk++) {
        rc = MPI_Bcast((char *)buffer + chunk * max_chunk, chunk_length(count, chunk), MPI_BYTE, root, comm);
        if (rc != MPI_SUCCESS) return rc;
    }
    return MPI_SUCCESS;
}

int dpo_mpi_broadcast_bytes(void *buffer, size_t count, int root) {
    return broadcast_bytes_chunked(buffer, count, root, MPI_COMM_WORLD);
}

int dpo_mpi_barrier(void) { return MPI_Barrier(MPI_COMM_WORLD); }

void dpo_mpi_abort(int code) {
    int initialized = 0, finalized = 0;
    MPI_Initialized(&initialized);
    MPI_Finalized(&finalized);
    fflush(stdout);
    fflush(stderr);
    if (initialized && !finalized) MPI_Abort(MPI_COMM_WORLD, code);
    exit(code);
}

void dpo_mpi_error_string(int code, char *text, size_t capacity) {
    if (capacity == 0) return;
    char message[MPI_MAX_ERROR_STRING];
    int length = 0;
    if (MPI_Error_string(code, message, &length) != MPI_SUCCESS) {
        length = snprintf(message, sizeof message, "unknown MPI error code %d", code);
    }
    snprintf(text, capacity, "%.*s", length, message);
}

size_t dpo_mpi_max_error_string(void) { return MPI_MAX_ERROR_STRING; }

struct dpo_mpi_request {
    int count;
    MPI_Request requests[];
};

int dpo_mpi_iallreduce_sum_float(float *buffer, size_t count, dpo_mpi_request **request) {
    *request = NULL;
    size_t chunks = chunk_count(count);
    if (chunks > (size_t)INT_MAX) return MPI_ERR_COUNT;
    dpo_mpi_request *handle = malloc(sizeof(dpo_mpi_request) + chunks * sizeof(MPI_Request));
    if (handle == NULL) return MPI_ERR_NO_MEM;
    handle->count = 0;
    for (size_t chunk = 0; chunk < chunks; chunk++) {
        int rc = MPI_Iallreduce(MPI_IN_PLACE, buffer + chunk * max_chunk, chunk_length(count, chunk), MPI_FLOAT,
                                MPI_SUM, MPI_COMM_WORLD, &handle->requests[chunk]);
        if (rc != MPI_SUCCESS) {
            // Chunks already started must finish before the caller may reuse the buffer.
            MPI_Waitall(handle->count, handle->requests, MPI_STATUSES_IGNORE);
            free(handle);
            return rc;
        }
        handle->count++;
    }
    *request = handle;
    return MPI_SUCCESS;
}

int dpo_mpi_request_test(dpo_mpi_request *request, int *completed) {
    return MPI_Testall(request->count, request->requests, completed, MPI_STATUSES_IGNORE);
}

int dpo_mpi_request_wait(dpo_mpi_request *request) {
    return MPI_Waitall(request->count, request->requests, MPI_STATUSES_IGNORE);
}

void dpo_mpi_request_free(dpo_mpi_request *request) { free(request); }

// MARK: Node topology: communicators derived from MPI_COMM_WORLD and MPI shared-memory windows.

struct dpo_mpi_comm {
    MPI_Comm comm;
};

/// Boxes `comm` (MPI_COMM_NULL becomes NULL: this rank is not in the derived communicator).
static int box_communicator(MPI_Comm comm, dpo_mpi_comm **result) {
    *result = NULL;
    if (comm == MPI_COMM_NULL) return MPI_SUCCESS;
    int rc = MPI_Comm_set_errhandler(comm, MPI_ERRORS_RETURN);
    if (rc != MPI_SUCCESS) {
        MPI_Comm_free(&comm);
        return rc;
    }
    dpo_mpi_comm *box = malloc(sizeof *box);
    if (box == NULL) {
        MPI_Comm_free(&comm);
        return MPI_ERR_NO_MEM;
    }
    box->comm = comm;
    *result = box;
    return MPI_SUCCESS;
}

int dpo_mpi_comm_split_shared_memory(dpo_mpi_comm **node) {
    int rank = 0;
    int rc = MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    if (rc != MPI_SUCCESS) return rc;
    MPI_Comm comm = MPI_COMM_NULL;
    rc = MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, rank, MPI_INFO_NULL, &comm);
    if (rc != MPI_SUCCESS) return rc;
    return box_communicator(comm, node);
}

int dpo_mpi_comm_split_world(int color, dpo_mpi_comm **result) {
    int rank = 0;
    int rc = MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    if (rc != MPI_SUCCESS) return rc;
    MPI_Comm comm = MPI_COMM_NULL;
    rc = MPI_Comm_split(MPI_COMM_WORLD, color < 0 ? MPI_UNDEFINED : color, rank, &comm);
    if (rc != MPI_SUCCESS) return rc;
    return box_communicator(comm, result);
}

void dpo_mpi_comm_free(dpo_mpi_comm *comm) {
    if (comm == NULL) return;
    int finalized = 0;
    MPI_Finalized(&finalized);
    if (!finalized) MPI_Comm_free(&comm->comm);
    free(comm);
}

int dpo_mpi_comm_rank_in(dpo_mpi_comm *comm, int *rank) { return MPI_Comm_rank(comm->comm, rank); }

int dpo_mpi_comm_size_in(dpo_mpi_comm *comm, int *size) { return MPI_Comm_size(comm->comm, size); }

int dpo_mpi_barrier_in(dpo_mpi_comm *comm) { return MPI_Barrier(comm->comm); }

int dpo_mpi_allreduce_sum_float_in(dpo_mpi_comm *comm, float *buffer, size_t count) {
    return allreduce_sum_chunked((char *)buffer, count, sizeof(float), MPI_FLOAT, comm->comm);
}

int dpo_mpi_broadcast_bytes_in(dpo_mpi_comm *comm, void *buffer, size_t count, int root) {
    return broadcast_bytes_chunked(buffer, count, root, comm->comm);
}

int dpo_mpi_processor_name(char *name, size_t capacity) {
    if (capacity == 0) return MPI_ERR_ARG;
    char text[MPI_MAX_PROCESSOR_NAME];
    int length = 0;
    int rc = MPI_Get_processor_name(text, &length);
    if (rc != MPI_SUCCESS) return rc;
    snprintf(name, capacity, "%.*s", length, text);
    return MPI_SUCCESS;
}

size_t dpo_mpi_max_processor_name(void) { return MPI_MAX_PROCESSOR_NAME; }

struct dpo_mpi_window {
    MPI_Win window;
};

int dpo_mpi_win_allocate_shared(dpo_mpi_comm *comm, size_t bytes, dpo_mpi_window **result, void **base) {
    *result = NULL;
    *base = NULL;
    if (bytes > (size_t)PTRDIFF_MAX) return MPI_ERR_SIZE;
    dpo_mpi_window *box = malloc(sizeof *box);
    if (box == NULL) return MPI_ERR_NO_MEM;
    MPI_Info info;
    int rc = MPI_Info_create(&info);
    if (rc != MPI_SUCCESS) {
        free(box);
        return rc;
    }
    // Each rank's segment gets pages of its own instead of starting right after the previous rank's.
    MPI_Info_set(info, "alloc_shared_noncontig", "true");
    rc = MPI_Win_allocate_shared((MPI_Aint)bytes, 1, info, comm->comm, base, &box->window);
    MPI_Info_free(&info);
    if (rc != MPI_SUCCESS) {
        free(box);
        return rc;
    }
    MPI_Win_set_errhandler(box->window, MPI_ERRORS_RETURN);
    // One passive-target epoch for the window's whole life, so MPI_Win_sync may order loads and stores.
    rc = MPI_Win_lock_all(MPI_MODE_NOCHECK, box->window);
    if (rc != MPI_SUCCESS) {
        MPI_Win_free(&box->window);
        free(box);
        return rc;
    }
    *result = box;
    return MPI_SUCCESS;
}

int dpo_mpi_win_shared_query(dpo_mpi_window *window, int rank, size_t *bytes, void **base) {
    MPI_Aint size = 0;
    int unit = 0;
    int rc = MPI_Win_shared_query(window->window, rank, &size, &unit, base);
    *bytes = (size_t)size;
    return rc;
}

int dpo_mpi_win_sync(dpo_mpi_window *window) { return MPI_Win_sync(window->window); }

void dpo_mpi_win_free(dpo_mpi_window *window) {
    if (window == NULL) return;
    int finalized = 0;
    MPI_Finalized(&finalized);
    if (!finalized) {
        MPI_Win_unlock_all(window->window);
        MPI_Win_free(&window->window);
    }
    free(window);
}
