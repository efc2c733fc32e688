/** Tables owned by the web app (issue 4). */
// eslint-disable-next-line @typescript-eslint/no-empty-object-type
export interface AppTables {}
