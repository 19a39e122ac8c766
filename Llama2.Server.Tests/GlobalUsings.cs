global using Xunit;
global using Llama2.Engine.Tests.TestData;
