import WRaftAPI

/// The faults of `POST /op/...`, acting on the node addressed; members are named by their ids.
public typealias Fault = FaultRequest<String>
