export const WORKLOADS = [];
