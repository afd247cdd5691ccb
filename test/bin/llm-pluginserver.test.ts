import { isFinalStep } from '../../bin/llm-pluginserver';

describe('isFinalStep', () => {
  it('is true for "ret" and for the PDK calls after which Kong sends nothing more', () => {
    expect(isFinalStep('ret')).toBe(true);
    expect(isFinalStep({ Method: 'kong.response.exit', Args: [403] })).toBe(true);
    expect(isFinalStep({ Method: 'kong.response.error', Args: [500] })).toBe(true);
  });

  it('is false for any other PDK call', () => {
    expect(isFinalStep({ Method: 'kong.request.get_headers', Args: [] })).toBe(false);
    expect(isFinalStep({ Method: 'kong.response.set_header', Args: ['a', 'b'] })).toBe(false);
    expect(isFinalStep(null)).toBe(false);
  });
});
