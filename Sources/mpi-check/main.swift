print("mpi-check placeholder")
