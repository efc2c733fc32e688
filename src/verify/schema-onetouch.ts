/** Tables for approval requests and devices (issue 3). */
// eslint-disable-next-line @typescript-eslint/no-empty-object-type
export interface OneTouchTables {}
