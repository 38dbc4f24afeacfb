/** SQLSTATE codes the reconciler reacts to by name (PostgreSQL appendix A). */
export const SQLSTATE = {
  lockNotAvailable: '55P03',
  queryCanceled: '57014',
  adminShutdown: '57P01',
  crashShutdown: '57P02',
  cannotConnectNow: '57P03',
  undefinedTable: '42P01',
  insufficientPrivilege: '42501',
  serializationFailure: '40001',
} as const;
