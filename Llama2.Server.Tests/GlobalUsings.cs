global using Xunit;
global using Llama2.TestSupport;
