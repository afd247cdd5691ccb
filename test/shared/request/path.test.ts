import { joinPath, pathFromPointer } from '../../../plugins/shared/request/path';

describe('joinPath', () => {
  it('writes members with dots and indexes with brackets', () => {
    expect(joinPath(joinPath(joinPath('', 'messages'), 3), 'content')).toBe('messages[3].content');
  });
  it('quotes names that are not identifiers and cuts long ones', () => {
    expect(joinPath('metadata', 'a b')).toBe('metadata["a b"]');
    expect(joinPath('', 'k'.repeat(100))).toBe(`["${'k'.repeat(64)}..."]`);
  });
});

describe('pathFromPointer', () => {
  it('turns an Ajv instancePath into an OpenAI param', () => {
    expect(pathFromPointer('/messages/0/role')).toBe('messages[0].role');
    expect(pathFromPointer('')).toBe('');
    expect(pathFromPointer('/a~1b/c~0d')).toBe('["a/b"]["c~d"]');
  });
});
