"""云 Cloud: the 1+N multi-cloud control plane, system migration, disaster-recovery topology, 云长 accountability."""
